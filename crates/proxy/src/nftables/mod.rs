//! The nftables datapath: one table (`ip labyrinth`) owned by Labyrinth.
pub mod apply;
pub mod compile;

pub use apply::NftablesDatapath;
pub use compile::{compile, Compiled, ServiceObjects};

#[cfg(test)]
mod tests;
