//! DEL: take the veth pair away and release the address. Repeating it, or
//! calling it for a container we never saw, succeeds.
//!
//! The pair is retired (down, renamed; see `retire`) and unregistered by a
//! detached child (or thread), so DEL returns without the kernel's RCU wait.

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
    let ctx =
        |e: anyhow::Error| CniError::from(e.context(format!("DEL {} {}", env.container_id, env.ifname)));
    let mut tombstones = Vec::new();
    for name in &names {
        let pod_side = pod.as_mut().map(|h| (h, env.ifname.as_str()));
        if let Some(t) = retire::retire_veth(&mut node, name, pod_side).map_err(ctx)? {
            tombstones.push(t);
        }
    }
    Ipam::new(conf).release(&env.container_id, &env.ifname)?;
    retire::unregister_detached(&mut node, tombstones, detach).map_err(ctx)?;
    Ok(())
}
