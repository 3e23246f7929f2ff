//! The kubelet's part of the agent: the Node's registration and heartbeat,
//! the node's pod network and peer routes, and the pods bound to this node
//! (started by the composition root in `crate::agent`).

mod admission;
mod backoff;
mod container_state;
mod ephemeral;
mod events;
mod init_containers;
mod init_status;
mod lifecycle;
pub(crate) mod mirror_pods;
pub(crate) mod node;
mod nodepod;
mod pod_store;
mod pod_volumes;
pub(crate) mod pods;
mod probes;
mod projected;
pub(crate) mod renewals;
pub(crate) mod root_ca;
pub(crate) mod root_ca_watch;
mod service_env;
mod static_manifest;
pub(crate) mod static_pods;
mod status;
mod termination;
pub(crate) mod token_renewal;
mod tokens;
