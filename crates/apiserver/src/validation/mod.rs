//! Validation: schema decoding through the k8s-openapi types (unknown-field
//! detection for fieldValidation) and the per-kind rules the real server applies.

mod endpoints;
mod endpointslice;
mod init_containers;
mod job;
pub mod names;
mod networkpolicy;
mod pod;
mod pod_volumes;
mod ports;
mod rbac;
mod rules;
mod security_context;
mod service;
mod typed;
mod workloads;

pub use rules::validate;
pub use typed::{decode_typed, unknown_fields};
