//! NetworkPolicy as pure logic, the one owner of its meaning for the agent,
//! the datapaths and the tracer:
//! - [`model`]: the cluster as policy sees it (pods, namespaces, policies);
//! - [`from_k8s`]: that model from the API's objects (pods also from
//!   [`watched_pod`], the agents' slim decoding of them), [`from_list`] all
//!   of them at once (typed, or a kubectl List), [`convert_cache`] the
//!   same from pods already converted, keeping each policy's model by uid
//!   and resourceVersion;
//! - [`verdict`]: whether a connection is allowed, and by which rule, or
//!   which policies isolate its end and that nothing allows it;
//! - [`prediction`]: `policy check`'s answer for one connection;
//! - [`compile`]: per pod of a node, the allow list a datapath renders;
//! - [`compile_cache`]: the same, reusing per policy and pod what did
//!   not change since the last compile (the agent's);
//! - [`pieces`]: that list cut into disjoint interval pieces (one lookup);
//! - [`names`]: the iptables rendering's chain names and DROP comment.
pub mod cidr;
pub mod compile;
pub mod compile_cache;
pub mod convert_cache;
pub mod from_k8s;
pub mod from_list;
pub mod model;
pub mod names;
pub mod pieces;
pub mod prediction;
pub mod selector;
pub mod verdict;
pub mod watched_pod;

pub use compile::{compile_node, Allow, Compiled, PodRules};
pub use compile_cache::CompileCache;
pub use convert_cache::ConvertCache;
pub use from_list::Objects;
pub use model::{
    Cluster, Direction, NamedPort, Peer, Pod, Policy, PolicyPort, PolicyRef, PortMatch, Protocol, Rule,
};
pub use prediction::{predict, Prediction};
pub use selector::Selector;
pub use verdict::{check, DirVerdict, Flow, Verdict};

#[cfg(test)]
mod scenarios;
