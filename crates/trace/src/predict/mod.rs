//! `labyrinth explain [--name LAB] FROM TO:PORT [--udp] [--trace FILE]`: the
//! path predicted from the cluster state and from the rules and routes
//! actually programmed in the nodes, without sending anything (a virtual
//! packet walked through them), shown next to an observed trace (`trace
//! --json` or `journey --json` output) with any divergence marked.

mod compare;
mod ebpf;
pub mod external;
pub mod path;
pub mod policy;
pub mod policy_ebpf;
pub mod policy_hop;
pub mod policy_nft;
pub mod policy_nodes;
pub mod resolve;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::explain::service::in_node;
use crate::run::parse_target;
use crate::topology::Lab;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub flow: crate::cli::FlowArgs,
    /// An observed trace (`labyrinth trace --json` output) to compare with.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExplainArgs) -> Result<i32> {
    let trace_file = args.trace;
    let json = args.json;
    let args = args.flow;
    let lab = Lab::load(&args.name)?;
    let (to, port) = parse_target(&args.to)?;
    let proto = if args.udp { "udp" } else { "tcp" };
    if args.from == external::CLIENT {
        let dst: Ipv4Addr = to.parse().with_context(|| {
            format!(
                "TO {to:?}: from the {} host, give a node's address",
                external::CLIENT
            )
        })?;
        let steps = external::walk(&lab, dst, port, proto)?;
        return show(&args.from, &to, port, proto, &[], &steps, None, json);
    }
    let src = lab.pod(&args.from)?;
    let mut lookups = Vec::new();
    let dst: Ipv4Addr = match to.parse() {
        Ok(ip) => ip,
        Err(_) => {
            let exe = std::env::current_exe()?;
            let exe = exe.to_string_lossy();
            let resolv = in_node(
                &lab.name,
                &src.node,
                &[
                    &exe,
                    "runtime",
                    "exec",
                    &src.label(),
                    "--",
                    "cat",
                    "/etc/resolv.conf",
                ],
            )
            .context("reading the pod's resolv.conf")?;
            let (search, ndots) = resolve::search_path(&resolv);
            let domain = search.last().cloned().unwrap_or_else(|| "cluster.local".into());
            let out = Command::new(&*exe)
                .args([
                    "kubectl", "--name", &lab.name, "get", "services", "-A", "-o", "json",
                ])
                .output()?;
            let svcs = resolve::services(&String::from_utf8_lossy(&out.stdout))?;
            lookups = resolve::walk(&to, &search, ndots, &domain, &svcs);
            match lookups.last().and_then(|l| l.answer.clone()) {
                Some((_, ip)) => ip,
                None => {
                    print_lookups(&lookups);
                    bail!("{to} does not resolve: no Service answers any name of the search path");
                }
            }
        }
    };
    let steps = path::walk(&lab, src, dst, port, proto)?;
    let observed = match &trace_file {
        Some(f) => Some(compare::observed(f)?),
        None => None,
    };
    show(
        &args.from,
        &to,
        port,
        proto,
        &lookups,
        &steps,
        observed.as_ref(),
        json,
    )
}

/// Print the prediction (JSON or the listing) next to the observed trace.
#[allow(clippy::too_many_arguments)]
fn show(
    from: &str,
    to: &str,
    port: u16,
    proto: &str,
    lookups: &[resolve::Lookup],
    steps: &[path::Step],
    observed: Option<&compare::Observed>,
    json: bool,
) -> Result<i32> {
    if json {
        let v = serde_json::json!({
            "dns": lookups.iter().map(|l| serde_json::json!({
                "name": l.fqdn,
                "answer": l.answer.as_ref().map(|(svc, ip)| serde_json::json!({"service": svc, "a": ip.to_string()})),
            })).collect::<Vec<_>>(),
            "steps": steps,
            "divergence": observed.map(|o| compare::divergence(steps, o)),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("predicted path {from} → {to}:{port} ({proto}), nothing sent");
    print_lookups(lookups);
    for s in steps {
        let mark = observed.map(|o| compare::mark(s, o)).unwrap_or("");
        let at = format!(
            "{} / {} / {}",
            s.node,
            s.netns,
            s.device.as_deref().unwrap_or("-")
        );
        println!("  {mark}{at:<60} [{}] {}", s.kind, s.text);
    }
    if let Some(o) = observed {
        for extra in compare::divergence(steps, o) {
            println!("  ✗ {extra}");
        }
    }
    Ok(0)
}

fn print_lookups(lookups: &[resolve::Lookup]) {
    for l in lookups {
        match &l.answer {
            Some((svc, ip)) => println!("  dns: {} → A {ip} (Service {svc})", l.fqdn),
            None => println!("  dns: {} → NXDOMAIN (no such Service)", l.fqdn),
        }
    }
}
