//! The nftables rendering, in Labyrinth's own table `ip labyrinth-policy`:
//! - the base chain `forward` (filter hook, priority filter) accepts
//!   established and related packets first, then looks the source up in
//!   the verdict map `egress-pods` and the destination in `ingress-pods`;
//! - each element jumps to the isolated pod's chain for that direction,
//!   named readably `ingress-<ns>/<pod>` / `egress-<ns>/<pod>`;
//! - that chain has one rule per allow of the compiled model, matching the
//!   peer addresses in a named interval set (`<chain>-peers-<i>`), the
//!   protocol and the port range, and RETURNing with a comment naming the
//!   policy, rule and peer; its last rule logs to the NFLOG group
//!   `labyrinth observe` reads and DROPs with a comment naming the
//!   isolating policies.
//!
//! A sync recreates the whole table in one `nft -f` transaction (add,
//! delete, add: atomic, so no packet sees half a table). Open connections
//! survive it: their state is the kernel's conntrack, not the table.
//! Loaded by the `nft` tool rather than the Service datapath's netlink
//! encoder: policy tables are small next to 10k Services, and the text is
//! what `nft list table` shows back.

use std::fmt::Write;

use anyhow::{Context, Result};
use labyrinth_policy::names::{
    drop_comment, log_prefix, nft_peer_set, nft_pod_chain, nft_pods_map, LOG_GROUP, NFT_FORWARD_CHAIN,
    NFT_TABLE,
};
use labyrinth_policy::{Allow, Compiled, Direction, PodRules};

use super::comment::comment_text;
use crate::exec;

const FAMILY: &str = "ip";

/// nftables keeps at most 128 bytes of a comment.
fn comment(text: &str) -> String {
    format!("comment \"{}\"", comment_text(text, 127))
}

/// The pod's chain.
pub fn pod_chain(r: &PodRules) -> String {
    nft_pod_chain(&r.pod(), r.direction)
}

/// The match of one allow (peer set, protocol, ports), without verdict.
fn allow_match(a: &Allow, set: &str, dir: Direction) -> String {
    let mut m = String::new();
    if a.nets.is_some() {
        let field = match dir {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        };
        let _ = write!(m, "ip {field} @{set} ");
    }
    if let Some(p) = a.protocol {
        let _ = write!(m, "meta l4proto {} ", p.lower());
        match a.ports {
            Some((lo, hi)) if lo == hi => {
                let _ = write!(m, "th dport {lo} ");
            }
            Some((lo, hi)) => {
                let _ = write!(m, "th dport {lo}-{hi} ");
            }
            None => {}
        }
    }
    m
}

fn pod_objects(r: &PodRules, out: &mut String) {
    let chain = pod_chain(r);
    let _ = writeln!(out, "add chain {FAMILY} {NFT_TABLE} {chain}");
    for (i, a) in r.allows.iter().enumerate() {
        let set = nft_peer_set(&chain, i);
        if let Some(nets) = &a.nets {
            // auto-merge: an ipBlock may overlap a pod's own address.
            let _ = writeln!(
                out,
                "add set {FAMILY} {NFT_TABLE} {set} {{ type ipv4_addr ; flags interval ; auto-merge ; }}"
            );
            let els: Vec<String> = nets.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "add element {FAMILY} {NFT_TABLE} {set} {{ {} }}",
                els.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "add rule {FAMILY} {NFT_TABLE} {chain} {}return {}",
            allow_match(a, &set, r.direction),
            comment(&a.describe(r.direction))
        );
    }
    let by: Vec<String> = r.isolated_by.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "add rule {FAMILY} {NFT_TABLE} {chain} log prefix \"{}\" group {LOG_GROUP} drop {}",
        log_prefix(r.direction),
        comment(&drop_comment(&r.pod(), r.direction, &by))
    );
}

/// The script recreating the table for `c`, as one transaction. Pod
/// chains and their elements come before the base chain that reaches them.
pub fn render(c: &Compiled) -> String {
    let mut out = format!(
        "add table {FAMILY} {NFT_TABLE}\ndelete table {FAMILY} {NFT_TABLE}\nadd table {FAMILY} {NFT_TABLE}\n"
    );
    for dir in [Direction::Ingress, Direction::Egress] {
        let _ = writeln!(
            out,
            "add map {FAMILY} {NFT_TABLE} {} {{ type ipv4_addr : verdict ; }}",
            nft_pods_map(dir)
        );
    }
    for r in &c.pods {
        pod_objects(r, &mut out);
    }
    for dir in [Direction::Ingress, Direction::Egress] {
        let els: Vec<String> = c
            .pods
            .iter()
            .filter(|r| r.direction == dir)
            .map(|r| format!("{} : jump {}", r.ip, pod_chain(r)))
            .collect();
        if !els.is_empty() {
            let _ = writeln!(
                out,
                "add element {FAMILY} {NFT_TABLE} {} {{ {} }}",
                nft_pods_map(dir),
                els.join(", ")
            );
        }
    }
    let base = NFT_FORWARD_CHAIN;
    let _ = writeln!(
        out,
        "add chain {FAMILY} {NFT_TABLE} {base} {{ type filter hook forward priority filter ; policy accept ; }}"
    );
    let _ = writeln!(
        out,
        "add rule {FAMILY} {NFT_TABLE} {base} ct state established,related accept {}",
        comment("replies and connections already open")
    );
    // Egress first: a packet leaving an isolated pod is judged where it
    // leaves, then (both pods on this node) where it is delivered.
    let _ = writeln!(
        out,
        "add rule {FAMILY} {NFT_TABLE} {base} ip saddr vmap @{}",
        nft_pods_map(Direction::Egress)
    );
    let _ = writeln!(
        out,
        "add rule {FAMILY} {NFT_TABLE} {base} ip daddr vmap @{}",
        nft_pods_map(Direction::Ingress)
    );
    out
}

/// Programs the table in the calling thread's network namespace.
#[derive(Default)]
pub struct PolicyNftables {
    /// The last script (tests and `--dry-run` views).
    pub last_input: String,
}

impl PolicyNftables {
    pub fn sync(&mut self, c: &Compiled) -> Result<()> {
        let script = render(c);
        exec::run("nft", &["-f", "-"], Some(script.as_bytes()))
            .context("nft rejected the policy table (nothing was applied)")?;
        self.last_input = script;
        Ok(())
    }

    /// Remove the table (another datapath enforces policy now).
    pub fn remove() -> Result<()> {
        let script = format!("add table {FAMILY} {NFT_TABLE}\ndelete table {FAMILY} {NFT_TABLE}\n");
        exec::run("nft", &["-f", "-"], Some(script.as_bytes()))
            .context("removing the nftables policy table")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::fixtures::{allow, server};
    use labyrinth_policy::Protocol;

    #[test]
    fn renders_maps_chains_sets_and_a_named_drop() {
        let r = server(
            Direction::Ingress,
            vec![
                allow(
                    Some(1),
                    Some("10.0.1.3/32,10.1.0.0/16"),
                    Some(Protocol::Tcp),
                    Some((9000, 9999)),
                ),
                allow(None, None, Some(Protocol::Udp), Some((53, 53))),
                allow(None, None, None, None),
            ],
        );
        let mut eg = r.clone();
        eg.direction = Direction::Egress;
        eg.allows.clear();
        let text = render(&Compiled { pods: vec![r, eg] });
        let want = "add table ip labyrinth-policy\ndelete table ip labyrinth-policy\nadd table ip labyrinth-policy\n\
add map ip labyrinth-policy ingress-pods { type ipv4_addr : verdict ; }\n\
add map ip labyrinth-policy egress-pods { type ipv4_addr : verdict ; }\n\
add chain ip labyrinth-policy ingress-wrk-2/server\n\
add set ip labyrinth-policy ingress-wrk-2/server-peers-0 { type ipv4_addr ; flags interval ; auto-merge ; }\n\
add element ip labyrinth-policy ingress-wrk-2/server-peers-0 { 10.0.1.3/32, 10.1.0.0/16 }\n\
add rule ip labyrinth-policy ingress-wrk-2/server ip saddr @ingress-wrk-2/server-peers-0 meta l4proto tcp th dport 9000-9999 return comment \"wrk-2/allow-frontend ingress rule 0 peer 1\"\n\
add rule ip labyrinth-policy ingress-wrk-2/server meta l4proto udp th dport 53 return comment \"wrk-2/allow-frontend ingress rule 0 every peer\"\n\
add rule ip labyrinth-policy ingress-wrk-2/server return comment \"wrk-2/allow-frontend ingress rule 0 every peer\"\n\
add rule ip labyrinth-policy ingress-wrk-2/server log prefix \"LABY-POLICY ingress\" group 1818 drop comment \"wrk-2/server: isolated for ingress by wrk-2/allow-frontend, wrk-2/deny-all; no rule allows\"\n\
add chain ip labyrinth-policy egress-wrk-2/server\n\
add rule ip labyrinth-policy egress-wrk-2/server log prefix \"LABY-POLICY egress\" group 1818 drop comment \"wrk-2/server: isolated for egress by wrk-2/allow-frontend, wrk-2/deny-all; no rule allows\"\n\
add element ip labyrinth-policy ingress-pods { 10.0.2.5 : jump ingress-wrk-2/server }\n\
add element ip labyrinth-policy egress-pods { 10.0.2.5 : jump egress-wrk-2/server }\n\
add chain ip labyrinth-policy forward { type filter hook forward priority filter ; policy accept ; }\n\
add rule ip labyrinth-policy forward ct state established,related accept comment \"replies and connections already open\"\n\
add rule ip labyrinth-policy forward ip saddr vmap @egress-pods\n\
add rule ip labyrinth-policy forward ip daddr vmap @ingress-pods\n";
        assert_eq!(text, want);
        // Nothing isolated: empty maps, no pod chain.
        let empty = render(&Compiled::default());
        assert!(
            !empty.contains("add chain ip labyrinth-policy ingress-"),
            "{empty}"
        );
        assert!(!empty.contains("add element"), "{empty}");
    }

    #[test]
    fn long_comments_fit_nftables() {
        let c = comment(&"é".repeat(100));
        assert!(c.len() <= 127 + "comment \"\"".len(), "{c}");
        assert!(c.ends_with("é\""), "{c}");
    }
}
