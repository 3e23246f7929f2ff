//! `policy check`: one connection's verdict, or the whole matrix of the
//! pods of some namespaces (one fetch of the API for all cells).

use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use clap::Args;
use labyrinth_policy::{predict, Cluster, Flow, Pod, Prediction, Protocol};

use crate::predict::policy_nodes::programmed_matrix;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The source: NAMESPACE/POD, or an address that is no pod.
    #[arg(long, required_unless_present = "matrix", conflicts_with = "matrix")]
    pub from: Option<String>,
    /// The destination: NAMESPACE/POD, or an address.
    #[arg(long, required_unless_present = "matrix", conflicts_with = "matrix")]
    pub to: Option<String>,
    /// The destination port(s), comma-separated (the pod's own, after any Service).
    #[arg(long, value_delimiter = ',', required = true)]
    pub port: Vec<u16>,
    /// The protocol(s), comma-separated: TCP, UDP or SCTP.
    #[arg(long, value_delimiter = ',', default_value = "TCP")]
    pub protocol: Vec<String>,
    /// Every pod to every pod (of the namespaces given with -n, or of all).
    #[arg(long)]
    pub matrix: bool,
    /// With --matrix: only the pods of these namespaces, comma-separated.
    #[arg(short = 'n', long, value_delimiter = ',', requires = "matrix")]
    pub namespaces: Vec<String>,
    /// With --matrix: judge every cell by the rules the nodes hold (iptables
    /// chains, nftables table or eBPF maps, walked as `explain` walks them),
    /// each node's state read once, instead of by the API's policies.
    #[arg(long, requires = "matrix")]
    pub programmed: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn protocol(s: &str) -> Result<Protocol> {
    Protocol::parse(&s.to_ascii_uppercase())
        .with_context(|| format!("--protocol: unknown protocol {s:?} (TCP, UDP or SCTP)"))
}

/// The address of `spec` (NAMESPACE/POD or an IPv4 address) for `--{arg}`.
pub fn address(c: &Cluster, arg: &str, spec: &str) -> Result<Ipv4Addr> {
    if let Ok(ip) = spec.parse() {
        return Ok(ip);
    }
    let Some((ns, name)) = spec.split_once('/') else {
        bail!("--{arg} {spec:?}: expected NAMESPACE/POD or an IPv4 address");
    };
    let Some(pod) = c.pod(ns, name) else {
        let known: Vec<&str> = c
            .pods
            .iter()
            .filter(|p| p.namespace == ns)
            .map(|p| p.name.as_str())
            .collect();
        bail!(
            "--{arg} {spec:?}: no such pod (pods in {ns}: {})",
            known.join(", ")
        );
    };
    pod.ip
        .with_context(|| format!("--{arg} {spec:?}: the pod has no address yet"))
}

/// The pods (with an address) of `namespaces` (all when empty), in
/// namespace and name order.
fn matrix_pods<'a>(c: &'a Cluster, namespaces: &[String]) -> Vec<&'a Pod> {
    let mut pods: Vec<&Pod> = c
        .pods
        .iter()
        .filter(|p| p.ip.is_some() && (namespaces.is_empty() || namespaces.contains(&p.namespace)))
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    pods
}

/// Every ordered pair of the pods (with an address) of `namespaces` (all
/// when empty), in namespace and name order, for each port and protocol.
pub fn matrix(c: &Cluster, namespaces: &[String], ports: &[u16], protocols: &[Protocol]) -> Vec<Prediction> {
    let pods = matrix_pods(c, namespaces);
    let mut out = Vec::new();
    for &protocol in protocols {
        for &port in ports {
            for from in &pods {
                for to in &pods {
                    let (Some(src), Some(dst)) = (from.ip, to.ip) else {
                        continue;
                    };
                    out.push(predict(
                        c,
                        Flow {
                            src,
                            dst,
                            protocol,
                            port,
                        },
                    ));
                }
            }
        }
    }
    out
}

/// Upstream's truth table for one port and protocol: rows are sources,
/// columns destinations, `.` allowed and `X` dropped.
pub fn table(cells: &[Prediction]) -> String {
    let mut pods: Vec<&str> = cells.iter().map(|p| p.from.as_str()).collect();
    pods.dedup();
    let width = pods.iter().map(|p| p.len()).max().unwrap_or(1) + 1;
    let mut out = format!("{:<width$}", "-");
    for p in &pods {
        out += &format!("{p:<width$}");
    }
    out.push('\n');
    for row in cells.chunk_by(|a, b| a.from == b.from) {
        out += &format!("{:<width$}", row[0].from);
        for cell in row {
            out += &format!("{:<width$}", if cell.allowed { "." } else { "X" });
        }
        out.push('\n');
    }
    out
}

pub fn run(lab: &str, args: CheckArgs) -> Result<i32> {
    let protocols = args
        .protocol
        .iter()
        .map(|p| protocol(p))
        .collect::<Result<Vec<_>>>()?;
    let c = super::fetch::cluster(lab)?;
    if args.matrix {
        let cells = if args.programmed {
            let pods: Vec<(String, Ipv4Addr, String)> = matrix_pods(&c, &args.namespaces)
                .into_iter()
                .filter_map(|p| Some((format!("{}/{}", p.namespace, p.name), p.ip?, p.node.clone())))
                .collect();
            programmed_matrix(lab, &c, &pods, &args.port, &protocols)
        } else {
            matrix(&c, &args.namespaces, &args.port, &protocols)
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "cells": cells }))?
            );
            return Ok(0);
        }
        for block in cells.chunk_by(|a, b| (a.port, a.protocol) == (b.port, b.protocol)) {
            println!("{} {}:", block[0].protocol.as_str(), block[0].port);
            print!("{}", table(block));
        }
        return Ok(0);
    }
    let (from, to) = (args.from.unwrap_or_default(), args.to.unwrap_or_default());
    let (src, dst) = (address(&c, "from", &from)?, address(&c, "to", &to)?);
    let mut answers = Vec::new();
    for &protocol in &protocols {
        for &port in &args.port {
            answers.push(predict(
                &c,
                Flow {
                    src,
                    dst,
                    protocol,
                    port,
                },
            ));
        }
    }
    if args.json {
        let v = match answers.as_slice() {
            [one] => serde_json::to_value(one)?,
            many => serde_json::to_value(many)?,
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    for a in &answers {
        let word = if a.allowed { "allowed" } else { "dropped" };
        println!("{} → {} {} {}: {word}", a.from, a.to, a.protocol.as_str(), a.port);
        for line in a.reason.lines() {
            println!("  {line}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_policy::{Policy, Selector};

    fn cluster() -> Cluster {
        let pod = |ns: &str, name: &str, ip: Option<&str>| Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: [("pod".to_string(), name.to_string())].into(),
            ip: ip.map(|i| i.parse().unwrap()),
            node: "node-1".into(),
            ports: vec![],
        };
        Cluster {
            pods: vec![
                pod("y", "a", Some("10.0.2.5")),
                pod("x", "b", Some("10.0.1.6")),
                pod("x", "a", Some("10.0.1.5")),
                pod("x", "new", None),
            ],
            policies: vec![Policy {
                namespace: "x".into(),
                name: "only-from-b".into(),
                pod_selector: Selector::labels([("pod", "a")]),
                ingress: Some(vec![labyrinth_policy::Rule {
                    peers: vec![labyrinth_policy::Peer::Pods {
                        namespaces: None,
                        pods: Some(Selector::labels([("pod", "b")])),
                    }],
                    ports: vec![],
                }]),
                egress: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn addresses_of_pods_and_clear_errors() {
        let c = cluster();
        assert_eq!(address(&c, "from", "x/a").unwrap().to_string(), "10.0.1.5");
        assert_eq!(address(&c, "to", "10.9.9.9").unwrap().to_string(), "10.9.9.9");
        let e = address(&c, "to", "x/zz").unwrap_err().to_string();
        assert_eq!(e, "--to \"x/zz\": no such pod (pods in x: b, a, new)");
        let e = address(&c, "to", "x/new").unwrap_err().to_string();
        assert!(e.contains("no address yet"), "{e}");
        let e = address(&c, "from", "pod").unwrap_err().to_string();
        assert!(e.starts_with("--from \"pod\": expected NAMESPACE/POD"), "{e}");
        assert!(protocol("icmp").unwrap_err().to_string().contains("--protocol"));
        assert_eq!(protocol("udp").unwrap(), Protocol::Udp);
    }

    #[test]
    fn the_matrix_covers_every_pair_in_order() {
        let c = cluster();
        let cells = matrix(&c, &[], &[80], &[Protocol::Tcp]);
        assert_eq!(cells.len(), 9);
        assert_eq!(
            table(&cells),
            "-   x/a x/b y/a \nx/a .   .   .   \nx/b .   .   .   \ny/a X   .   .   \n"
        );
        let only_x = matrix(&c, &["x".into()], &[80, 81], &[Protocol::Tcp, Protocol::Udp]);
        assert_eq!(only_x.len(), 16);
        assert!(only_x
            .iter()
            .all(|p| p.from.starts_with("x/") && p.to.starts_with("x/")));
    }
}
