//! Shared fixtures for the integration tests: a cluster's worth of objects,
//! an in-process server on a loopback address, and a `dig` runner.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;

use labyrinth_dns::catalog::ZoneConfig;
use labyrinth_dns::server::{Config, Server};

pub const FIXTURE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: node-wrk-2-ubuntu24, namespace: wrk-2}
spec: {clusterIP: 10.96.12.34, clusterIPs: [10.96.12.34], ports: [{name: nc, port: 9999, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-x1, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 5432, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.5], hostname: db-0, conditions: {ready: true}}
- {addresses: [10.244.2.6], hostname: db-1, conditions: {ready: true}}
- {addresses: [10.244.2.7], hostname: db-2, conditions: {ready: false}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: wrk-1}
status: {podIP: 10.244.1.9, phase: Running}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: upstream.example}
"#;

/// The fixture plus a headless Service `big.default` with `n` endpoints
/// (its A answer needs TCP once n is large).
pub fn fixture_with_big(n: usize) -> String {
    let mut s = FIXTURE.to_string();
    s.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: default}\nspec: {clusterIP: None}\n");
    s.push_str("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: big-1, namespace: default, labels: {kubernetes.io/service-name: big}}\naddressType: IPv4\nendpoints:\n");
    for i in 0..n {
        s.push_str(&format!(
            "- {{addresses: [10.245.{}.{}]}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    s
}

/// Starts a server on `ip`:<ephemeral port> serving `yaml`.
pub fn start(ip: &str, yaml: &str) -> Server {
    let objs = labyrinth_dns::records_file::parse(yaml).expect("fixture parses");
    let (_, shared) = labyrinth_dns::catalog_from_objects(ZoneConfig::new("cluster.local"), objs).unwrap();
    let listen: SocketAddr = format!("{ip}:0").parse().unwrap();
    let mut cfg = Config::new(listen);
    cfg.udp_workers = 2;
    Server::start(cfg, shared).expect("server starts")
}

/// What dig printed, split up.
#[derive(Debug, Default)]
pub struct Dig {
    pub status: String,
    pub flags: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    pub raw: String,
}

/// Runs the real `dig` against the server with extra arguments.
pub fn dig(server: SocketAddr, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=2", "+tries=2", "+norecurse"])
        .args(args)
        .output()
        .expect("dig runs (dnsutils installed)");
    parse_dig(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_dig(text: &str) -> Dig {
    let mut d = Dig {
        raw: text.to_string(),
        ..Dig::default()
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap_or("").to_string();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            d.flags = rest
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect();
        }
        if line.starts_with(";; ANSWER SECTION") {
            section = "an";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "ns";
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = "ar";
        } else if line.is_empty() || line.starts_with(';') {
            if line.is_empty() {
                section = "";
            }
        } else {
            let norm = line.split_whitespace().collect::<Vec<_>>().join(" ");
            match section {
                "an" => d.answer.push(norm),
                "ns" => d.authority.push(norm),
                "ar" => d.additional.push(norm),
                _ => {}
            }
        }
    }
    d
}
