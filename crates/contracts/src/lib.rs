//! The bottom floor: every fact that crosses a component boundary is defined
//! here once, typed, and imported by every side. Nothing in this crate
//! depends on another Labyrinth crate.

pub mod agent_config;
#[cfg(feature = "client")]
pub mod api_client;
pub mod bpf;
pub mod by_name;
pub mod cluster_config;
pub mod cni;
#[cfg(feature = "recorder")]
pub mod event_correlation;
pub mod event_rate;
pub mod events;
pub mod files;
pub mod iptables_save;
pub mod lb_pool;
pub mod mirror_pod;
pub mod modes;
pub mod network_daemonset;
pub mod node;
pub mod node_taints;
pub mod pod;
pub mod probe;
pub mod process;
pub mod published_config;
#[cfg(feature = "recorder")]
pub mod recorder;
pub mod sandbox;
pub mod service_account;
pub mod store;
pub mod sysctl;
pub mod topology;
pub mod vpc_dns;
pub mod worker_threads;
