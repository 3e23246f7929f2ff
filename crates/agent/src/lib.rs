//! The node agent (the kubelet's role, plus the node half of the CNI
//! network): it builds the node's pod network devices and keeps routes to
//! every other node's pod CIDR, runs the pods bound to its node, and
//! programs the node's Service rules (kube-proxy's role) and its pods'
//! NetworkPolicy rules.

pub mod agent;
pub mod cli;
pub mod install;
pub mod kubelet;
pub mod nodenet;
pub mod policy;
pub mod proxy_mode;
pub mod runtime;
pub mod services;
pub mod streaming;
#[cfg(test)]
mod test_alloc;
pub mod uninstall;
