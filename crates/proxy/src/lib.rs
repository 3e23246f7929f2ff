//! Labyrinth's service proxy (kube-proxy's job): ClusterIP Services from the
//! API compiled into iptables rules in kube-proxy's own layout, or into one
//! nftables table, and kept in sync; and NetworkPolicy's allow lists as
//! filter rules ([`netpol`]).
pub mod announce;
pub mod conntrack;
pub mod datapath;
pub mod exec;
pub mod external;
pub mod hash;
pub mod iptables;
pub mod k8s;
pub mod metrics;
pub mod model;
pub mod netpol;
pub mod nftables;
pub mod sync;
pub mod topology;
pub mod trace;
mod trace_nodeport;
mod trace_walk;

pub use datapath::Datapath;
pub use iptables::IptablesDatapath;
pub use model::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};
pub use nftables::NftablesDatapath;
pub use sync::{Proxier, SyncKind, SyncReport};
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod trace_tests;
