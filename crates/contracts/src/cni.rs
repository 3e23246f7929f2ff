//! The CNI protocol's wire types, as the spec defines them: the network
//! configuration list, the success result (interfaces, IPs, routes, DNS), the error result and the spec
//! versions. The plugin prints them, the agent's runtime reads them back
//! (the pod's address, its veth names and MACs), the tracer finds a pod's
//! host-side veth in them. All are serde-derived; nothing here walks a
//! `serde_json::Value` by key.

mod conflist;
mod error;
mod mac;
mod result;
mod version;

pub use conflist::{NetworkConfigList, PluginConf, PluginInvocation};
pub use error::ErrorResult;
pub use mac::{format_mac, parse_mac};
pub use result::{CniResult, Dns, Interface, IpConfig, PodLink, ResultError, Route};
pub use version::{Version, DECLARED, LATEST, SUPPORTED};
