//! The lab: one Linux machine playing a cloud VPC and its VMs.
//!
//! The VPC is a namespace set (network, pid, mount, UTS, IPC) held by one
//! init process and holding the underlay bridge; every node is another such
//! set, nested in the VPC's pid namespace, plugged into the bridge by a veth
//! that appears inside the node as `ens4`. Nothing is added to the host's
//! namespaces: killing the VPC's init releases everything.

pub mod addons;
pub mod api_endpoint;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod down;
pub mod enter;
pub mod etcd;
pub mod lb_pool;
pub mod leftovers;
pub mod logs;
pub mod manifests;
pub mod progress;
pub mod sandbox;
pub mod state;
pub mod static_logs;
pub mod status;
pub mod supervise;
pub mod up;
pub mod vpc;
pub mod vpc_dns;

pub use config::{Datapath, LabConfig, NodePlan, Routing};
pub use state::{Holder, LabDir, LabState};
