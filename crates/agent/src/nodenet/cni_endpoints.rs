//! The eBPF datapath's endpoints made at CNI ADD, for a network agent
//! that is not the process running the pods (the DaemonSet): the plugin's
//! calls pass through this agent (labyrinth_cni::delegate), so the program
//! goes on a pod's veth as the call that made the veth returns, and comes
//! off before DEL removes it, as Cilium's agent makes its endpoints. After
//! a restart the pods already running are adopted from their sandbox
//! records (the runtime's, on the node's disk).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use labyrinth_cni::delegate::{Around, Call};
use labyrinth_contracts::cni::CniResult;
use labyrinth_contracts::sandbox::SandboxRecord;
use labyrinth_ebpf::{PodEndpoint, SharedDatapath};
use std::sync::Mutex;

/// The datapath and the endpoints it has, by CNI container id.
pub struct CniEndpoints {
    dp: SharedDatapath,
    known: Mutex<HashMap<String, (Ipv4Addr, String)>>,
}

impl CniEndpoints {
    pub fn new(dp: SharedDatapath) -> Self {
        CniEndpoints {
            dp,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Attach the running pods of these records (a restarted agent's
    /// pods); failures are logged, the pods keep running either way.
    pub fn adopt(&self, recs: &[SandboxRecord]) {
        for rec in recs.iter().filter(|r| !r.host_network && r.pause.alive()) {
            match super::ebpf::attach(&self.dp, rec).and_then(|()| super::ebpf::endpoint_of(rec)) {
                Ok(ep) => {
                    self.known
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(rec.id.clone(), (ep.ip, ep.host_ifname));
                }
                Err(e) => tracing::warn!("adopting pod {}/{}: {e:#}", rec.pod.namespace, rec.pod.name),
            }
        }
    }
}

/// The endpoint a successful ADD printed.
fn endpoint(result: &[u8]) -> Result<PodEndpoint, String> {
    let text = std::str::from_utf8(result).map_err(|e| format!("the CNI result is not UTF-8: {e}"))?;
    let link = CniResult::from_text(text)
        .and_then(|r| r.pod_link())
        .map_err(|e| format!("the CNI result: {e}"))?;
    Ok(PodEndpoint {
        ip: link.ip.addr(),
        host_ifname: link.host_ifname,
        pod_mac: link.pod_mac,
    })
}

impl Around for CniEndpoints {
    fn after_add(&self, call: &Call, result: &[u8]) -> Result<(), String> {
        let ep = endpoint(result)?;
        self.dp
            .lock()
            .attach_endpoint(&ep)
            .map_err(|e| format!("attaching the eBPF program to {}: {e:#}", ep.host_ifname))?;
        if let Some(id) = call.get("CNI_CONTAINERID") {
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, (ep.ip, ep.host_ifname));
        }
        Ok(())
    }

    fn before_del(&self, call: &Call) {
        let Some(id) = call.get("CNI_CONTAINERID") else {
            return;
        };
        let Some((ip, ifname)) = self.known.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) else {
            return;
        };
        if let Err(e) = self.dp.lock().detach_endpoint(ip, &ifname) {
            tracing::warn!("detaching {ifname} ({ip}): {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_comes_from_the_printed_result() {
        let ep = endpoint(
            br#"{"cniVersion": "1.0.0", "ips": [{"address": "10.0.1.5/32"}], "interfaces": [
                {"name": "lxc0123456789ab", "mac": "aa:bb:cc:00:11:22"},
                {"name": "eth0", "mac": "0a:58:0a:00:01:05", "sandbox": "/run/netns/cni-x"}]}"#,
        )
        .unwrap();
        assert_eq!(ep.ip, Ipv4Addr::new(10, 0, 1, 5));
        assert_eq!(ep.host_ifname, "lxc0123456789ab");
        assert_eq!(ep.pod_mac, [0x0a, 0x58, 0x0a, 0, 1, 5]);
        let e = endpoint(br#"{"cniVersion": "1.0.0", "ips": []}"#).unwrap_err();
        assert!(e.contains("ips"), "{e}");
    }
}
