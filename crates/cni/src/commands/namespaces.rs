//! The namespaces a command works in: the node's (where the plugin runs,
//! reached through a netlink handle) and the pod's (named by CNI_NETNS).

use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::Handle;

use crate::spec::CniError;

/// A netlink socket in the namespace the plugin runs in (the node's).
pub(crate) fn node_handle() -> Result<Handle, CniError> {
    Handle::current("node")
        .map_err(|e| CniError::internal("opening netlink in the node namespace", e.to_string()))
}

pub(crate) fn open_netns(path: &str) -> std::io::Result<NetNs> {
    NetNs::open(path, format!("pod netns {path}")).map_err(|e| std::io::Error::other(e.to_string()))
}

/// Refuse a CNI_NETNS that is the namespace we run in: the pod side would
/// land on the node itself.
pub(crate) fn refuse_own_netns(path: &str) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (id(path), id("/proc/thread-self/ns/net")) {
        (Ok(pod), Ok(own)) if pod == own => Err(CniError::invalid_env(
            &["CNI_NETNS"],
            format!("{path} is the plugin's own network namespace, not a container's"),
        )),
        _ => Ok(()),
    }
}
