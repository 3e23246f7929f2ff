//! DEL: remove the veth pair and release the address. Repeating it, or
//! calling it for a container we never saw, succeeds.

use super::node_handle;
use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::netsetup;
use crate::spec::{CniError, Request};

pub fn del(req: &Request, conf: &NetConf) -> Result<(), CniError> {
    let env = &req.env;
    let mut node = node_handle()?;
    // Our own name for the host side, plus whatever host-side lxc device the
    // prevResult recorded (the same one unless the naming ever changes).
    let mut names = vec![netsetup::host_ifname(&env.container_id, &env.ifname)];
    if let Some(prev) = &req.prev_result {
        for i in prev
            .interfaces
            .iter()
            .filter(|i| i.sandbox.is_none() && i.name.starts_with("lxc"))
        {
            if !names.contains(&i.name) {
                names.push(i.name.clone());
            }
        }
    }
    for name in &names {
        netsetup::delete_host_veth(&mut node, name)
            .map_err(|e| CniError::from(e.context(format!("DEL {} {}", env.container_id, env.ifname))))?;
    }
    Ipam::new(conf).release(&env.container_id, &env.ifname)?;
    Ok(())
}
