//! NetworkPolicy enforcement in the kernel datapaths: the allow lists that
//! `labyrinth-policy` compiles for this node's pods, rendered as filter
//! rules and programmed in one transaction per change.
//!
//! Two renderings of the same compiled model: iptables (filter-table
//! chains) and nftables (Labyrinth's own table, verdict maps and sets).
//!
//! Where: the FORWARD hook. Every packet between a pod and anything else
//! is forwarded by its node (pods hang off routed veths), so each pod's
//! egress is judged on its own node as the packet leaves, and its ingress
//! on its own node as it is delivered. Traffic from the node itself
//! (kubelet probes) goes out through OUTPUT and is never judged, as the
//! documentation asks.
//!
//! Connections already open when a policy changes: packets of an
//! established connection pass before any policy rule (the state is the
//! kernel's conntrack), so a new policy refuses new connections and leaves
//! open ones alone, as kube-proxy-style CNIs do. Replies of allowed
//! connections pass by the same rule.
mod comment;
pub mod iptables;
mod load;
mod nft_diff;
mod nft_objects;
pub mod nftables;

#[cfg(test)]
mod fixtures;

pub use iptables::PolicyIptables;
pub use load::Load;
pub use nftables::PolicyNftables;
