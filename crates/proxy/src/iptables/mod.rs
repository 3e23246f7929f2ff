//! The iptables datapath: kube-proxy's nat-table layout and chain names.
pub mod affinity;
pub mod apply;
pub mod compile;
pub mod jumps;
pub mod nodeport;
pub mod syntax;

pub use apply::IptablesDatapath;
pub use compile::{compile, Compiled, ServiceRules};

#[cfg(test)]
mod tests;
