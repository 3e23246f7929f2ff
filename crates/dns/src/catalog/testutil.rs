//! Test helpers: Kubernetes objects from JSON, and asking a snapshot a
//! question end-to-end (hickory-encoded query → fast path → hickory decode).

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::{Object, Snapshot};
use crate::wire::{respond, Outcome, Transport};

pub fn cluster_ip(ns: &str, name: &str, ip: &str, ports: &[(&str, u16, &str)]) -> Object {
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
        .collect();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": ports}
    }))
    .unwrap();
    Object::Service(Box::new(svc))
}

pub fn headless(ns: &str, name: &str, publish_not_ready: bool) -> Object {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": publish_not_ready}
    }))
    .unwrap();
    Object::Service(Box::new(svc))
}

pub fn external(ns: &str, name: &str, target: &str) -> Object {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "ExternalName", "externalName": target}
    }))
    .unwrap();
    Object::Service(Box::new(svc))
}

/// endpoints: (ip, hostname, ready)
pub fn slice(
    ns: &str,
    name: &str,
    svc: &str,
    eps: &[(&str, Option<&str>, Option<bool>)],
    ports: &[(&str, u16)],
) -> Object {
    let eps: Vec<_> = eps
        .iter()
        .map(|(ip, host, ready)| {
            let mut e = json!({"addresses": [ip]});
            if let Some(h) = host {
                e["hostname"] = json!(h);
            }
            if let Some(r) = ready {
                e["conditions"] = json!({"ready": r});
            }
            e
        })
        .collect();
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"}))
        .collect();
    let s: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": ports
    }))
    .unwrap();
    Object::Slice(Box::new(s))
}

pub fn pod(ns: &str, name: &str, ip: &str, phase: &str, host_network: bool) -> Object {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [], "hostNetwork": host_network},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}], "phase": phase}
    }))
    .unwrap();
    Object::Pod(Box::new(p))
}

/// A decoded answer: rcode, then "TYPE rdata" strings per section.
#[derive(Debug)]
pub struct Answer {
    pub rcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub answers: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    /// Owner names of the answers, as sent (case preserved).
    pub owners: Vec<String>,
    pub ttls: Vec<u32>,
}

pub fn query_bytes(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x4242;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

pub fn decode(bytes: &[u8]) -> Answer {
    let m = Message::from_vec(bytes).expect("response must decode");
    let fmt = |rs: &Vec<hickory_proto::rr::Record>| {
        rs.iter()
            .map(|r| format!("{} {}", r.record_type(), r.data))
            .collect::<Vec<_>>()
    };
    Answer {
        rcode: bytes[3] & 0xF,
        aa: bytes[2] & 0x04 != 0,
        tc: bytes[2] & 0x02 != 0,
        answers: fmt(&m.answers),
        authority: fmt(&m.authorities),
        additional: fmt(&m.additionals),
        owners: m.answers.iter().map(|r| r.name.to_string()).collect(),
        ttls: m.answers.iter().map(|r| r.ttl).collect(),
    }
}

pub fn ask(snap: &Snapshot, name: &str, qtype: RecordType) -> Answer {
    let q = query_bytes(name, qtype);
    let mut out = Vec::new();
    let tr = Transport::tcp(false);
    assert_eq!(respond(snap, &q, tr, &mut out), Outcome::Reply);
    assert_eq!(&out[..2], &[0x42, 0x42], "id echoed");
    decode(&out)
}
