//! The policy model from the API's objects. A policy that cannot be
//! understood (the API server validates, so only an older or foreign
//! server's object) is an error naming the field; the caller skips it.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::{Namespace, Pod as K8sPod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{NamedPort, Peer, Pod, Policy, PolicyPort, PortMatch, Protocol, Rule};
use crate::selector::{Labels, Op, Selector};
use crate::watched_pod::WatchedPod;

pub fn selector(s: &LabelSelector, field: &str) -> Result<Selector> {
    let mut out = Selector {
        labels: s.match_labels.clone().unwrap_or_default().into_iter().collect(),
        expressions: vec![],
    };
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let vals = e.values.clone().unwrap_or_default();
        let op = match e.operator.as_str() {
            "In" => Op::In(vals),
            "NotIn" => Op::NotIn(vals),
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            other => bail!("{field}.matchExpressions[{i}].operator: unknown operator {other:?}"),
        };
        out.expressions.push((e.key.clone(), op));
    }
    Ok(out)
}

fn protocol(p: &Option<String>, field: &str) -> Result<Protocol> {
    let text = p.as_deref().unwrap_or("TCP");
    Protocol::parse(text).with_context(|| format!("{field}.protocol: unsupported protocol {text:?}"))
}

fn port(p: &NetworkPolicyPort, field: &str) -> Result<PolicyPort> {
    let protocol = protocol(&p.protocol, field)?;
    let port = match &p.port {
        None => PortMatch::Any,
        Some(IntOrString::String(name)) => PortMatch::Named(name.clone()),
        Some(IntOrString::Int(n)) => {
            let start = u16::try_from(*n).with_context(|| format!("{field}.port: {n} is no port"))?;
            let end = match p.end_port {
                Some(e) => u16::try_from(e).with_context(|| format!("{field}.endPort: {e} is no port"))?,
                None => start,
            };
            PortMatch::Range(start, end)
        }
    };
    Ok(PolicyPort { protocol, port })
}

fn peer(p: &NetworkPolicyPeer, field: &str) -> Result<Option<Peer>> {
    if let Some(b) = &p.ip_block {
        let cidr: IpNet = b
            .cidr
            .parse()
            .with_context(|| format!("{field}.ipBlock.cidr: {:?}", b.cidr))?;
        // The lab's pods are IPv4: an IPv6 block can match none of them.
        let IpNet::V4(cidr) = cidr else { return Ok(None) };
        let mut except = Vec::new();
        for (i, e) in b.except.iter().flatten().enumerate() {
            match e
                .parse::<IpNet>()
                .with_context(|| format!("{field}.ipBlock.except[{i}]: {e:?}"))?
            {
                IpNet::V4(n) => except.push(n),
                IpNet::V6(_) => {}
            }
        }
        return Ok(Some(Peer::IpBlock { cidr, except }));
    }
    let namespaces = p
        .namespace_selector
        .as_ref()
        .map(|s| selector(s, &format!("{field}.namespaceSelector")))
        .transpose()?;
    let pods = p
        .pod_selector
        .as_ref()
        .map(|s| selector(s, &format!("{field}.podSelector")))
        .transpose()?;
    Ok(Some(Peer::Pods { namespaces, pods }))
}

fn rule(
    peers: &Option<Vec<NetworkPolicyPeer>>,
    ports: &Option<Vec<NetworkPolicyPort>>,
    field: &str,
    key: &str,
) -> Result<Rule> {
    let mut r = Rule::default();
    let mut had_peers = false;
    for (i, p) in peers.iter().flatten().enumerate() {
        had_peers = true;
        if let Some(p) = peer(p, &format!("{field}.{key}[{i}]"))? {
            r.peers.push(p);
        }
    }
    if had_peers && r.peers.is_empty() {
        // Only IPv6 blocks: the rule allows nothing here (not everything).
        r.peers.push(Peer::IpBlock {
            cidr: Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, 32).expect("/32"),
            except: vec![],
        });
    }
    for (i, p) in ports.iter().flatten().enumerate() {
        r.ports.push(port(p, &format!("{field}.ports[{i}]"))?);
    }
    Ok(r)
}

pub fn policy(np: &NetworkPolicy) -> Result<Policy> {
    let namespace = np.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = np.metadata.name.clone().unwrap_or_default();
    let spec = np.spec.clone().unwrap_or_default();
    let pod_selector = match &spec.pod_selector {
        Some(s) => selector(s, "spec.podSelector")?,
        None => Selector::default(),
    };
    let mut ingress = Vec::new();
    for (i, r) in spec.ingress.iter().flatten().enumerate() {
        ingress.push(rule(&r.from, &r.ports, &format!("spec.ingress[{i}]"), "from")?);
    }
    let mut egress = Vec::new();
    for (i, r) in spec.egress.iter().flatten().enumerate() {
        egress.push(rule(&r.to, &r.ports, &format!("spec.egress[{i}]"), "to")?);
    }
    // policyTypes' default: Ingress always, Egress when egress rules exist.
    let (isolates_in, isolates_out) = match &spec.policy_types {
        Some(t) if !t.is_empty() => (t.iter().any(|t| t == "Ingress"), t.iter().any(|t| t == "Egress")),
        _ => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    };
    Ok(Policy {
        namespace,
        name,
        pod_selector,
        ingress: isolates_in.then_some(ingress),
        egress: isolates_out.then_some(egress),
    })
}

/// A running pod with an address; None for host-network pods (their
/// address is the node's, which no policy selects) and finished ones.
pub fn pod(p: &K8sPod) -> Option<Pod> {
    let spec = p.spec.as_ref()?;
    let status = p.status.as_ref();
    let ports = spec.containers.iter().flat_map(|c| c.ports.iter().flatten());
    model(
        PodFacts {
            namespace: p.metadata.namespace.clone(),
            name: p.metadata.name.clone(),
            labels: p.metadata.labels.clone(),
            node: spec.node_name.clone(),
            host_network: spec.host_network,
            phase: status.and_then(|s| s.phase.as_deref()),
            ip: status.and_then(|s| s.pod_ip.as_deref()),
        },
        ports.map(|cp| (cp.name.as_ref(), cp.container_port, cp.protocol.as_deref())),
    )
}

/// The same model from the policy watch's slim decoding.
pub fn watched_pod(p: WatchedPod) -> Option<Pod> {
    let spec = p.spec?;
    let ports = spec.containers.iter().flat_map(|c| &c.ports);
    model(
        PodFacts {
            namespace: p.metadata.namespace,
            name: p.metadata.name,
            labels: p.metadata.labels,
            node: spec.node_name,
            host_network: spec.host_network,
            phase: p.status.phase.as_deref(),
            ip: p.status.pod_ip.as_deref(),
        },
        ports.map(|cp| (cp.name.as_ref(), cp.container_port, cp.protocol.as_deref())),
    )
}

/// What a pod's model is made of, whichever decoding it came from.
struct PodFacts<'a> {
    namespace: Option<String>,
    name: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    node: Option<String>,
    host_network: Option<bool>,
    phase: Option<&'a str>,
    ip: Option<&'a str>,
}

/// The one place that decides which pods policy sees and how: the
/// containers' ports as (name, containerPort, protocol).
fn model<'p>(
    f: PodFacts<'_>,
    ports: impl Iterator<Item = (Option<&'p String>, i32, Option<&'p str>)>,
) -> Option<Pod> {
    if f.host_network == Some(true) || matches!(f.phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    let mut named = Vec::new();
    for (name, port, protocol) in ports {
        let (Some(name), Ok(port)) = (name, u16::try_from(port)) else {
            continue;
        };
        if let Some(protocol) = Protocol::parse(protocol.unwrap_or("TCP")) {
            named.push(NamedPort {
                name: name.clone(),
                port,
                protocol,
            });
        }
    }
    Some(Pod {
        namespace: f.namespace.unwrap_or_else(|| "default".into()),
        name: f.name.unwrap_or_default(),
        labels: f.labels.unwrap_or_default().into_iter().collect(),
        ip: f.ip.and_then(|ip| ip.parse().ok()),
        node: f.node.unwrap_or_default(),
        ports: named,
    })
}

pub fn namespace(n: &Namespace) -> (String, Labels) {
    (
        n.metadata.name.clone().unwrap_or_default(),
        n.metadata
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn np(spec: serde_json::Value) -> Policy {
        let v = json!({"metadata": {"name": "p", "namespace": "x"}, "spec": spec});
        policy(&serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn policy_types_default_from_the_rules() {
        let p = np(json!({"podSelector": {}}));
        assert_eq!((p.ingress.is_some(), p.egress.is_some()), (true, false));
        let p = np(json!({"podSelector": {}, "egress": [{}]}));
        assert_eq!(
            (p.ingress.is_some(), p.egress.as_ref().map(Vec::len)),
            (true, Some(1))
        );
        let p = np(json!({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}));
        assert_eq!((p.ingress.is_some(), p.egress.is_some()), (false, true));
    }

    #[test]
    fn ports_and_peers() {
        let p = np(json!({"podSelector": {"matchLabels": {"app": "s"}}, "ingress": [{
            "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                     {"namespaceSelector": {}, "podSelector": {"matchLabels": {"r": "c"}}}],
            "ports": [{"port": 80, "endPort": 90}, {"port": "http", "protocol": "UDP"}, {"protocol": "SCTP"}]}]}));
        let r = &p.ingress.unwrap()[0];
        assert_eq!(
            r.ports[0],
            PolicyPort {
                protocol: Protocol::Tcp,
                port: PortMatch::Range(80, 90)
            }
        );
        assert_eq!(r.ports[1].port, PortMatch::Named("http".into()));
        assert_eq!(
            r.ports[2],
            PolicyPort {
                protocol: Protocol::Sctp,
                port: PortMatch::Any
            }
        );
        assert!(matches!(&r.peers[0], Peer::IpBlock { except, .. } if except.len() == 1));
        assert!(
            matches!(&r.peers[1], Peer::Pods { namespaces: Some(n), pods: Some(_) } if *n == Selector::default())
        );
    }

    #[test]
    fn bad_protocol_names_the_field() {
        let v = json!({"metadata": {"name": "p"}, "spec": {"podSelector": {}, "egress": [{"ports": [{"protocol": "ICMP"}]}]}});
        let e = policy(&serde_json::from_value(v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("spec.egress[0].ports[0].protocol"), "{e}");
    }
}
