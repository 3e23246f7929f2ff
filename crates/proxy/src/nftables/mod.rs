//! The nftables datapath: one table (`ip labyrinth`) owned by Labyrinth.
pub mod affinity;
pub mod apply;
pub mod compile;
pub mod netlink;
pub mod nodeport;
pub mod objects;
pub mod plan;
pub mod rules;
pub mod text;

pub use apply::{Loader, NftablesDatapath};
pub use compile::{compile, Compiled, ServiceObjects};
pub use text::render_full;

#[cfg(test)]
mod tests;
