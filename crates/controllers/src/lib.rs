//! Labyrinth's controllers: scheduler, Deployment/ReplicaSet, DaemonSet, Job,
//! EndpointSlice, Endpoints, ServiceAccounts, node pod-CIDR allocator, node
//! lifecycle and LoadBalancer addresses. They are ordinary Kubernetes
//! clients (kube-rs), so they run against Labyrinth's API server or a real one.
//!
//! Each concern has a pure module (decisions from objects, unit-tested without
//! a server) and a runtime module under [`runtime`] that watches the API and
//! applies those decisions.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod job;
pub mod leader;
pub mod loadbalancer;
pub mod names;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod podutil;
pub mod root_ca;
pub mod runtime;
pub mod scheduler;
pub mod serviceaccounts;
pub mod vip;

mod cli;
pub use cli::{client, client_at, run, Args};
pub use runtime::{run_all, ControllersConfig, Which};
