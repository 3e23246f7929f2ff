//! Plans rendered as `nft -f` scripts: for dry runs, for the benchmark's
//! baseline (the `nft` tool loading the same table) and as a fallback
//! loader.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::compile::{skeleton, Compiled, ServiceObjects, SharedChange, FAMILY, TABLE};
use super::plan::{self, Elements, Op, SetKind};
use crate::model::ServicePortName;

/// Elements per `add element` line.
const PER_LINE: usize = 4096;

fn elements(out: &mut String, verb: &str, set: &str, els: &Elements<'_>, with_data: bool) {
    let items: Vec<String> = match els {
        Elements::Services(v) => v
            .iter()
            .map(|(k, chain)| match with_data {
                true => format!("{k} : goto {chain}"),
                false => k.to_string(),
            })
            .collect(),
        Elements::Endpoints(v) => v
            .iter()
            .map(|(k, i, ep)| match with_data {
                true => format!("{k} . {i} : {} . {}", ep.ip(), ep.port()),
                false => format!("{k} . {i}"),
            })
            .collect(),
        Elements::Hairpin(v) => v.iter().map(|ip| format!("{ip} . {ip}")).collect(),
    };
    for chunk in items.chunks(PER_LINE) {
        let _ = writeln!(
            out,
            "{verb} element {FAMILY} {TABLE} {set} {{ {} }}",
            chunk.join(", ")
        );
    }
}

/// One script, applied by `nft -f` as one transaction.
pub fn render(ops: &[Op<'_>]) -> String {
    let mut out = String::new();
    for op in ops {
        match op {
            Op::ResetTable => {
                let _ = writeln!(
                    out,
                    "add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\nadd table {FAMILY} {TABLE}"
                );
            }
            Op::AddSet(name, kind) => {
                let (what, ty) = match kind {
                    SetKind::ServiceMap => (
                        "map",
                        "type ipv4_addr . inet_proto . inet_service : verdict".to_string(),
                    ),
                    SetKind::EndpointMap => (
                        "map",
                        "typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport"
                            .to_string(),
                    ),
                    SetKind::Hairpin => ("set", "type ipv4_addr . ipv4_addr".to_string()),
                    SetKind::Affinity(s) => (
                        "set",
                        format!("type ipv4_addr ; flags dynamic,timeout ; timeout {s}s"),
                    ),
                };
                let _ = writeln!(out, "add {what} {FAMILY} {TABLE} {name} {{ {ty} ; }}");
            }
            Op::AddChain(c) => match &c.hook {
                Some(h) => {
                    let _ = writeln!(out, "add chain {FAMILY} {TABLE} {} {{ {h} }}", c.name);
                }
                None => {
                    let _ = writeln!(out, "add chain {FAMILY} {TABLE} {}", c.name);
                }
            },
            Op::AddRules(c) => {
                for r in &c.rules {
                    let _ = writeln!(out, "add rule {FAMILY} {TABLE} {} {r}", c.name);
                }
            }
            Op::FlushChain(c) => {
                let _ = writeln!(out, "flush chain {FAMILY} {TABLE} {c}");
            }
            Op::DeleteChain(c) => {
                let _ = writeln!(out, "delete chain {FAMILY} {TABLE} {c}");
            }
            Op::AddElements(set, els) => elements(&mut out, "add", set, els, true),
            Op::DeleteElements(set, els) => elements(&mut out, "delete", set, els, false),
        }
    }
    out
}

/// The whole table as one script.
pub fn render_full(c: &Compiled) -> String {
    let skel = skeleton();
    render(&plan::full(c, &skel))
}

/// The script of a partial sync from `old` (the changed ports' previous
/// objects) to `new` (already updated).
pub fn render_partial(
    old: &BTreeMap<ServicePortName, ServiceObjects>,
    new: &Compiled,
    changed: &BTreeSet<ServicePortName>,
    shared: &SharedChange,
) -> String {
    render(&plan::partial(old, new, changed, shared))
}
