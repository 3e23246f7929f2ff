//! The nftables rendering, in Labyrinth's own table `ip labyrinth-policy`:
//! - the base chain `forward` (filter hook, priority filter) accepts
//!   established and related packets first, then looks the source up in
//!   the verdict map `egress-pods` and the destination in `ingress-pods`;
//! - each element jumps to the isolated pod's chain for that direction,
//!   named readably `ingress-<ns>/<pod>` / `egress-<ns>/<pod>`;
//! - that chain has at most two lookups, whatever the number of policies
//!   (a chain of one rule per allow made 1,000 policies cost two thirds
//!   of the new connections): the (peer . protocol . port) interval set
//!   `<chain>-allow` and the set of peers allowed in every protocol
//!   `<chain>-allow-any`, RETURNing on a hit. Their elements are the
//!   compiled allows cut into disjoint pieces (labyrinth_policy::pieces;
//!   interval sets refuse overlaps), each with a comment naming the
//!   policy, rule and peer it stands for; the chain's last rule logs to the
//!   NFLOG group `labyrinth observe` reads and DROPs with a comment naming
//!   the isolating policies.
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
    drop_comment, log_prefix, nft_allow_set, nft_pod_chain, nft_pods_map, LOG_GROUP, NFT_FORWARD_CHAIN,
    NFT_TABLE,
};
use labyrinth_policy::pieces::pieces;
use labyrinth_policy::{Compiled, Direction, PodRules};

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

/// `lo` or `lo-hi`, as nft reads an interval.
fn interval<T: PartialEq + std::fmt::Display>((lo, hi): (T, T)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// An interval set of `key` holding `els` (nothing when empty) and the
/// rule RETURNing on a hit of `lookup` in it.
fn set_and_rule(
    out: &mut String,
    chain: &str,
    set: &str,
    key: &str,
    lookup: &str,
    els: &[String],
    why: &str,
) {
    if els.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "add set {FAMILY} {NFT_TABLE} {set} {{ type {key} ; flags interval ; }}"
    );
    let _ = writeln!(
        out,
        "add element {FAMILY} {NFT_TABLE} {set} {{ {} }}",
        els.join(", ")
    );
    let _ = writeln!(
        out,
        "add rule {FAMILY} {NFT_TABLE} {chain} {lookup} @{set} return {}",
        comment(why)
    );
}

fn pod_objects(r: &PodRules, out: &mut String) {
    let chain = pod_chain(r);
    let _ = writeln!(out, "add chain {FAMILY} {NFT_TABLE} {chain}");
    let field = match r.direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let named = |allow: usize| comment(&r.allows[allow].describe(r.direction));
    let p = pieces(r);
    let ported: Vec<String> = p
        .ports
        .iter()
        .map(|x| {
            format!(
                "{} . {} . {} {}",
                interval(x.addrs),
                x.protocol.lower(),
                interval(x.ports),
                named(x.allow)
            )
        })
        .collect();
    set_and_rule(
        out,
        &chain,
        &nft_allow_set(&chain, false),
        "ipv4_addr . inet_proto . inet_service",
        &format!("ip {field} . meta l4proto . th dport"),
        &ported,
        "an allowed peer, protocol and port: the element names its policy",
    );
    let any: Vec<String> = p
        .any
        .iter()
        .map(|x| format!("{} {}", interval(x.addrs), named(x.allow)))
        .collect();
    set_and_rule(
        out,
        &chain,
        &nft_allow_set(&chain, true),
        "ipv4_addr",
        &format!("ip {field}"),
        &any,
        "a peer allowed in every protocol: the element names its policy",
    );
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
    fn renders_maps_chains_disjoint_sets_and_a_named_drop() {
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
add set ip labyrinth-policy ingress-wrk-2/server-allow { type ipv4_addr . inet_proto . inet_service ; flags interval ; }\n\
add element ip labyrinth-policy ingress-wrk-2/server-allow { 0.0.0.0-10.0.1.2 . udp . 53 comment \"wrk-2/allow-frontend ingress rule 0 every peer\", 10.0.1.3 . tcp . 9000-9999 comment \"wrk-2/allow-frontend ingress rule 0 peer 1\", 10.0.1.3 . udp . 53 comment \"wrk-2/allow-frontend ingress rule 0 every peer\", 10.0.1.4-10.0.255.255 . udp . 53 comment \"wrk-2/allow-frontend ingress rule 0 every peer\", 10.1.0.0-10.1.255.255 . tcp . 9000-9999 comment \"wrk-2/allow-frontend ingress rule 0 peer 1\", 10.1.0.0-10.1.255.255 . udp . 53 comment \"wrk-2/allow-frontend ingress rule 0 every peer\", 10.2.0.0-255.255.255.255 . udp . 53 comment \"wrk-2/allow-frontend ingress rule 0 every peer\" }\n\
add rule ip labyrinth-policy ingress-wrk-2/server ip saddr . meta l4proto . th dport @ingress-wrk-2/server-allow return comment \"an allowed peer, protocol and port: the element names its policy\"\n\
add set ip labyrinth-policy ingress-wrk-2/server-allow-any { type ipv4_addr ; flags interval ; }\n\
add element ip labyrinth-policy ingress-wrk-2/server-allow-any { 0.0.0.0-255.255.255.255 comment \"wrk-2/allow-frontend ingress rule 0 every peer\" }\n\
add rule ip labyrinth-policy ingress-wrk-2/server ip saddr @ingress-wrk-2/server-allow-any return comment \"a peer allowed in every protocol: the element names its policy\"\n\
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
