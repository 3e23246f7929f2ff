//! The Deployment and ReplicaSet controllers' logic, free of any API calls:
//! the runtime layer feeds them objects from its caches and applies the plans.

pub mod hash;
pub mod replicaset;
pub mod rollout;
pub mod status;

pub use hash::{pod_template_hash, POD_TEMPLATE_HASH_LABEL};
