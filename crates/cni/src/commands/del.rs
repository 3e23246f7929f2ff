//! DEL: take the veth pair away and release the address. Repeating it, or
//! calling it for a container we never saw, succeeds.
//!
//! The pair is retired (down, renamed; see `retire`) and unregistered by a
//! detached child (or thread), so DEL returns without the kernel's RCU wait.
//!
//! Every step is tried even when an earlier one failed: a pair that cannot
//! be retired must not keep the pod's address reserved (the runtime may
//! never call DEL again), and the error reports every failure.

use labyrinth_contracts::node::POD_VETH_PREFIX;
use labyrinth_netlink::Handle;

use super::namespaces::{node_handle, open_netns};
use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::netsetup;
use crate::retire::{self, Detach};
use crate::spec::{CniError, Request};

pub fn del(req: &Request, conf: &NetConf, detach: Detach) -> Result<(), CniError> {
    let env = &req.env;
    let mut node = node_handle()?;
    // Our own name for the host side, plus whatever host-side lxc device the
    // prevResult recorded (the same one unless the naming ever changes).
    let mut names = vec![netsetup::host_ifname(&env.container_id, &env.ifname)];
    if let Some(prev) = &req.prev_result {
        for i in prev
            .interfaces
            .iter()
            .filter(|i| !i.in_container() && i.name.starts_with(POD_VETH_PREFIX))
        {
            if !names.contains(&i.name) {
                names.push(i.name.clone());
            }
        }
    }
    // The pod's namespace may be gone already (and our pair with it), or
    // not given at all: then there is no pod side to free.
    let mut pod = env
        .netns
        .as_deref()
        .filter(|p| !p.is_empty())
        .and_then(|p| open_netns(p).ok())
        .and_then(|ns| Handle::in_netns(&ns).ok());
    let mut failures: Vec<anyhow::Error> = Vec::new();
    let mut tombstones = Vec::new();
    for name in &names {
        let pod_side = pod.as_mut().map(|h| (h, env.ifname.as_str()));
        match retire::retire_veth(&mut node, name, pod_side) {
            Ok(Some(t)) => tombstones.push(t),
            Ok(None) => {}
            Err(e) => failures.push(e),
        }
    }
    if let Err(e) = Ipam::new(conf).release(&env.container_id, &env.ifname) {
        failures.push(anyhow::Error::new(e).context("releasing the address"));
    }
    if let Err(e) = retire::unregister_detached(&mut node, tombstones, detach) {
        failures.push(e);
    }
    let what = format!("DEL {} {}", env.container_id, env.ifname);
    match report(failures, &what) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// One error for all `failures` of `what`: the first one's CNI code and
/// message (its own code if it was a CNI error, e.g. the IPAM's I/O
/// failure), with every failure's full chain in the details.
fn report(failures: Vec<anyhow::Error>, what: &str) -> Option<CniError> {
    let mut failures = failures.into_iter();
    let first = failures.next()?;
    let mut err = CniError::from(first.context(what.to_string()));
    for more in failures {
        err.details.push_str(&format!("; also: {more:#}"));
    }
    Some(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_is_reported_with_the_first_ones_code() {
        let retire = anyhow::anyhow!("File exists").context("retiring lxc0");
        let release = anyhow::Error::new(CniError::io("releasing 10.0.0.2: Read-only file system"))
            .context("releasing the address");
        let err = report(vec![retire, release], "DEL c1 eth0").unwrap();
        assert_eq!(err.code, crate::spec::code::INTERNAL);
        assert!(err.msg.starts_with("DEL c1 eth0"), "{err:?}");
        assert!(err.details.contains("retiring lxc0: File exists"), "{err:?}");
        assert!(
            err.details.contains("also: releasing the address: ")
                && err.details.contains("Read-only file system"),
            "{err:?}"
        );
        assert!(report(vec![], "DEL c1 eth0").is_none());
    }
}
