//! GC: release the addresses (and delete the host veths) of attachments the
//! runtime no longer lists in `cni.dev/valid-attachments`, and delete any
//! retired veth a DEL's detached child did not get to.

use std::collections::HashSet;

use serde_json::Value;

use super::namespaces::node_handle;
use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::netsetup;
use crate::spec::{CniError, Request};

/// The runtime's list; libcni also sends it under the key an early draft of
/// the spec used.
pub fn valid_attachments(config: &Value) -> Result<HashSet<(String, String)>, CniError> {
    let (key, list) = ["cni.dev/valid-attachments", "cni.dev/attachments"]
        .iter()
        .find_map(|k| config.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
        .ok_or_else(|| {
            CniError::invalid_config(
                "cni.dev/valid-attachments",
                "GC needs the list of valid attachments",
            )
        })?;
    let Value::Array(items) = list else {
        return Err(CniError::invalid_config(key, format!("{list} is not a list")));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let get = |f: &str| {
                a.get(f)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        CniError::invalid_config(&format!("{key}[{i}].{f}"), "missing or not a string")
                    })
            };
            Ok((get("containerID")?, get("ifname")?))
        })
        .collect()
}

pub fn gc(req: &Request, conf: &NetConf) -> Result<(), CniError> {
    let valid = valid_attachments(&req.config)?;
    let released = Ipam::new(conf).gc(&valid)?;
    let mut node = node_handle()?;
    for r in released {
        let Some(ifname) = r.ifname else { continue };
        let host = netsetup::host_ifname(&r.container_id, &ifname);
        netsetup::delete_host_veth(&mut node, &host)
            .map_err(|e| CniError::from(e.context(format!("GC of {} {ifname}", r.container_id))))?;
    }
    crate::retire::sweep_tombstones(&mut node)
        .map_err(|e| CniError::from(e.context("GC of retired veths")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_either_key_and_names_bad_entries() {
        let v = valid_attachments(
            &json!({"cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}]}),
        );
        assert_eq!(v.unwrap().len(), 1);
        let v = valid_attachments(&json!({"cni.dev/attachments": []}));
        assert!(v.unwrap().is_empty());
        let e = valid_attachments(&json!({})).unwrap_err();
        assert_eq!(e.code, 7);
        let e = valid_attachments(&json!({"cni.dev/valid-attachments": [{"containerID": "a"}]})).unwrap_err();
        assert!(e.msg.contains("[0].ifname"));
    }
}
