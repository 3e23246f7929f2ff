//! What the kubelet refuses before it starts anything of a pod: here, a
//! sysctl that is neither safe nor allowed on this node
//! (`--allowed-unsafe-sysctls`). The pod then fails for good, with the
//! kubelet's reason and message, and is never retried.

use labyrinth_contracts::sysctl::Allowlist;

use super::nodepod::NodePod;

/// Why the pod cannot run on this node: (reason, message).
pub fn refusal(pod: &NodePod, allowed: &Allowlist) -> Option<(&'static str, String)> {
    let sc = pod.spec.security_context.as_deref()?;
    let s = sc.sysctls.iter().find(|s| !allowed.allows(&s.name))?;
    Some((
        "SysctlForbidden",
        format!("Pod forbidden sysctl: {:?} not allowlisted", s.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::pod::SlimPod;

    fn pod(sysctls: serde_json::Value) -> NodePod {
        let slim: SlimPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "c"}], "securityContext": {"sysctls": sysctls}}
        }))
        .unwrap();
        NodePod::from_watched(slim).unwrap()
    }

    #[test]
    fn a_pod_with_an_unsafe_sysctl_is_refused_unless_the_node_allows_it() {
        let safe = pod(serde_json::json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]));
        assert_eq!(refusal(&safe, &Allowlist::default()), None);
        let unsafe_one = pod(serde_json::json!([
            {"name": "net.ipv4.tcp_syncookies", "value": "1"},
            {"name": "net.core.somaxconn", "value": "1024"}
        ]));
        assert_eq!(
            refusal(&unsafe_one, &Allowlist::default()),
            Some((
                "SysctlForbidden",
                "Pod forbidden sysctl: \"net.core.somaxconn\" not allowlisted".to_string()
            ))
        );
        let allowed = Allowlist::parse("net.core.*").unwrap();
        assert_eq!(refusal(&unsafe_one, &allowed), None);
    }
}
