//! What `labyrinth policy check` answers for one connection: the verdict
//! of [`crate::verdict::check`] with its reason, and the one case no
//! datapath ever sees: a pod reaching its own address, which the kernel
//! delivers over loopback inside the pod (upstream's conformance model
//! allows it too).

use serde::Serialize;

use crate::model::{Cluster, Protocol};
use crate::verdict::{check, Flow, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// `ns/pod`, or the address when it is no pod.
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    pub allowed: bool,
    /// One line per judged end, the refusing one first.
    pub reason: String,
    /// Each end's judgement; None for a pod reaching itself.
    pub verdict: Option<Verdict>,
}

fn label(c: &Cluster, ip: std::net::Ipv4Addr) -> String {
    c.pod_by_ip(ip)
        .map_or(ip.to_string(), |p| format!("{}/{}", p.namespace, p.name))
}

pub fn predict(c: &Cluster, flow: Flow) -> Prediction {
    let (from, to) = (label(c, flow.src), label(c, flow.dst));
    let (allowed, reason, verdict) = if flow.src == flow.dst {
        let why =
            format!("{from} reaches its own address: the packet never leaves the pod, no policy applies");
        (true, why, None)
    } else {
        let v = check(c, flow);
        (v.allowed(), v.to_string(), Some(v))
    };
    Prediction {
        from,
        to,
        protocol: flow.protocol,
        port: flow.port,
        allowed,
        reason,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Pod, Policy};
    use crate::selector::Selector;

    fn cluster() -> Cluster {
        let pod = |name: &str, ip: &str| Pod {
            namespace: "x".into(),
            name: name.into(),
            labels: Default::default(),
            ip: Some(ip.parse().unwrap()),
            node: "node-1".into(),
            ports: vec![],
        };
        Cluster {
            pods: vec![pod("a", "10.0.1.5"), pod("b", "10.0.1.6")],
            policies: vec![Policy {
                namespace: "x".into(),
                name: "deny-all".into(),
                pod_selector: Selector::default(),
                ingress: Some(vec![]),
                egress: None,
            }],
            ..Default::default()
        }
    }

    fn flow(src: &str, dst: &str) -> Flow {
        Flow {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        }
    }

    #[test]
    fn names_the_isolating_policy_or_the_loopback() {
        let c = cluster();
        let p = predict(&c, flow("10.0.1.5", "10.0.1.6"));
        assert!(!p.allowed);
        assert_eq!((p.from.as_str(), p.to.as_str()), ("x/a", "x/b"));
        assert!(p.reason.starts_with("dropped entering x/b: no policy selecting it allows TCP 80 from x/a (10.0.1.5); it is isolated for ingress by x/deny-all"), "{}", p.reason);
        let own = predict(&c, flow("10.0.1.5", "10.0.1.5"));
        assert!(own.allowed && own.verdict.is_none(), "{own:?}");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["protocol"], "TCP");
        assert_eq!(
            json["verdict"]["ingress"]["verdict"]["isolated_by"][0]["name"],
            "deny-all"
        );
    }
}
