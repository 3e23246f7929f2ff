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
//! A change is one `nft -f` transaction. The first sync, each resync and
//! a change touching most of the table recreate the whole table (add,
//! delete, add: atomic, so no packet sees half a table); any other change
//! adds and deletes only the objects it touches (nft_diff), and falls back
//! to the whole table if nft refuses it (the table was changed by hand).
//! Both are written from the same per-pod objects (nft_objects). Open
//! connections survive either: their state is the kernel's conntrack, not
//! the table.
//! Loaded by the `nft` tool rather than the Service datapath's netlink
//! encoder: policy tables are small next to 10k Services, and the text is
//! what `nft list table` shows back.

use std::fmt::Write;

use anyhow::{Context, Result};
use labyrinth_policy::names::{nft_pods_map, NFT_FORWARD_CHAIN, NFT_TABLE};
use labyrinth_policy::{Compiled, Direction};

use super::load::Load;
use super::nft_diff::diff;
use super::nft_objects::{comment, PodObjects, FAMILY};
use crate::exec;

pub use super::nft_objects::pod_chain;

/// The script recreating the table holding `pods`, as one transaction.
/// Pod chains and their elements come before the base chain that
/// reaches them.
pub fn render_objects(pods: &[PodObjects]) -> String {
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
    for o in pods {
        o.add(&mut out);
    }
    for dir in [Direction::Ingress, Direction::Egress] {
        let els: Vec<String> = pods
            .iter()
            .filter(|o| o.direction == dir)
            .map(|o| format!("{} : jump {}", o.ip, o.chain))
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

/// The pods' objects of a compile.
pub fn objects(c: &Compiled) -> Vec<PodObjects> {
    c.pods.iter().map(PodObjects::of).collect()
}

/// The script recreating the table for `c`.
pub fn render(c: &Compiled) -> String {
    render_objects(&objects(c))
}

/// Programs the table in the calling thread's network namespace.
#[derive(Default)]
pub struct PolicyNftables {
    /// The last script (tests and `--dry-run` views).
    pub last_input: String,
    /// What the table holds since the last load that succeeded; None
    /// before the first, and after a failure (the whole table next).
    held: Option<Vec<PodObjects>>,
}

impl PolicyNftables {
    /// Take the table to `c`: only what changed, unless `full` (first
    /// sync, resync) or the change touches so much that the whole table
    /// is as short to send.
    pub fn sync(&mut self, c: &Compiled, full: bool) -> Result<Load> {
        let want = objects(c);
        let whole = render_objects(&want);
        let held = self.held.take();
        if let (Some(held), false) = (&held, full) {
            let change = diff(held, &want);
            if change.is_empty() {
                self.held = Some(want);
                return Ok(Load::Unchanged);
            }
            if change.len() < whole.len() {
                match exec::run("nft", &["-f", "-"], Some(change.as_bytes())) {
                    Ok(_) => {
                        self.last_input = change;
                        self.held = Some(want);
                        return Ok(Load::Incremental);
                    }
                    Err(e) => tracing::warn!(
                        "network policy: nft refused the incremental change, loading the whole table: {e:#}"
                    ),
                }
            }
        }
        exec::run("nft", &["-f", "-"], Some(whole.as_bytes()))
            .context("nft rejected the policy table (nothing was applied)")?;
        self.last_input = whole;
        self.held = Some(want);
        Ok(Load::Full)
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
        use crate::netpol::nft_objects::comment;
        let c = comment(&"é".repeat(100));
        assert!(c.len() <= 127 + "comment \"\"".len(), "{c}");
        assert!(c.ends_with("é\""), "{c}");
    }
}
