//! One isolated pod's nftables objects in one direction, as the table
//! holds them: its chain, the elements of its two allow sets and its drop
//! rule. The one owner of the rendered state: the full load
//! (nftables::render) and the incremental one (nft_diff) both write the
//! table from these, so the two cannot disagree on what a pod's objects
//! are.

use std::collections::HashSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

use labyrinth_policy::names::{drop_comment, log_prefix, nft_allow_set, nft_pod_chain, LOG_GROUP, NFT_TABLE};
use labyrinth_policy::pieces::pieces;
use labyrinth_policy::{Direction, PodRules};

use super::comment::comment_text;

pub const FAMILY: &str = "ip";

/// nftables keeps at most 128 bytes of a comment.
pub fn comment(text: &str) -> String {
    format!("comment \"{}\"", comment_text(text, 127))
}

/// `lo` or `lo-hi`, as nft reads an interval.
fn interval<T: PartialEq + std::fmt::Display>((lo, hi): (T, T)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// One set element: its key (what `delete element` names) and its
/// comment clause.
pub type Element = (String, String);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodObjects {
    pub chain: String,
    pub ip: Ipv4Addr,
    pub direction: Direction,
    /// The (peer . protocol . port) set's elements, in the pieces' order.
    pub ported: Vec<Element>,
    /// The set of peers allowed in every protocol.
    pub any: Vec<Element>,
    /// The last rule's text after the chain: log, drop and its comment.
    pub drop: String,
}

/// The pod's chain.
pub fn pod_chain(r: &PodRules) -> String {
    nft_pod_chain(&r.pod(), r.direction)
}

impl PodObjects {
    pub fn of(r: &PodRules) -> PodObjects {
        let named = |allow: usize| comment(&r.allows[allow].describe(r.direction));
        let p = pieces(r);
        let ported = p
            .ports
            .iter()
            .map(|x| {
                let key = format!(
                    "{} . {} . {}",
                    interval(x.addrs),
                    x.protocol.lower(),
                    interval(x.ports)
                );
                (key, named(x.allow))
            })
            .collect();
        let any = p
            .any
            .iter()
            .map(|x| (interval(x.addrs), named(x.allow)))
            .collect();
        let by: Vec<String> = r.isolated_by.iter().map(ToString::to_string).collect();
        PodObjects {
            chain: pod_chain(r),
            ip: r.ip,
            direction: r.direction,
            ported,
            any,
            drop: format!(
                "log prefix \"{}\" group {LOG_GROUP} drop {}",
                log_prefix(r.direction),
                comment(&drop_comment(&r.pod(), r.direction, &by))
            ),
        }
    }

    fn field(&self) -> &'static str {
        match self.direction {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        }
    }

    /// Its sets, each with its elements, key type, lookup and why: a set
    /// exists only while it has elements.
    #[allow(clippy::type_complexity)]
    fn sets(&self) -> [(String, &[Element], &'static str, String, &'static str); 2] {
        let f = self.field();
        [
            (
                nft_allow_set(&self.chain, false),
                &self.ported,
                "ipv4_addr . inet_proto . inet_service",
                format!("ip {f} . meta l4proto . th dport"),
                "an allowed peer, protocol and port: the element names its policy",
            ),
            (
                nft_allow_set(&self.chain, true),
                &self.any,
                "ipv4_addr",
                format!("ip {f}"),
                "a peer allowed in every protocol: the element names its policy",
            ),
        ]
    }

    /// The chain's rules depend on which sets exist and on the drop: while
    /// these stay, a change is only set elements.
    pub fn same_rules(&self, other: &PodObjects) -> bool {
        self.ported.is_empty() == other.ported.is_empty()
            && self.any.is_empty() == other.any.is_empty()
            && self.drop == other.drop
            && self.direction == other.direction
    }

    /// `add chain`, then its sets and rules.
    pub fn add(&self, out: &mut String) {
        let _ = writeln!(out, "add chain {FAMILY} {NFT_TABLE} {}", self.chain);
        self.add_sets_and_rules(out);
    }

    /// The chain's sets (with their elements) and rules, into an existing
    /// empty chain.
    pub fn add_sets_and_rules(&self, out: &mut String) {
        for (set, els, key, lookup, why) in self.sets() {
            if els.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "add set {FAMILY} {NFT_TABLE} {set} {{ type {key} ; flags interval ; }}"
            );
            add_elements(out, &set, els.iter());
            let _ = writeln!(
                out,
                "add rule {FAMILY} {NFT_TABLE} {} {lookup} @{set} return {}",
                self.chain,
                comment(why)
            );
        }
        let _ = writeln!(out, "add rule {FAMILY} {NFT_TABLE} {} {}", self.chain, self.drop);
    }

    /// Empties the chain and deletes its sets (the rules naming them go
    /// first, in the same transaction).
    pub fn clear(&self, out: &mut String) {
        let _ = writeln!(out, "flush chain {FAMILY} {NFT_TABLE} {}", self.chain);
        for (set, els, ..) in self.sets() {
            if !els.is_empty() {
                let _ = writeln!(out, "delete set {FAMILY} {NFT_TABLE} {set}");
            }
        }
    }

    /// Everything of it gone (its map element must be deleted first).
    pub fn delete(&self, out: &mut String) {
        self.clear(out);
        let _ = writeln!(out, "delete chain {FAMILY} {NFT_TABLE} {}", self.chain);
    }

    /// The element changes taking `old`'s sets to ours (same rules).
    pub fn element_changes(&self, old: &PodObjects, out: &mut String) {
        for ((set, new, ..), (_, was, ..)) in self.sets().into_iter().zip(old.sets()) {
            let (new_set, was_set): (HashSet<&Element>, HashSet<&Element>) =
                (new.iter().collect(), was.iter().collect());
            // An element whose comment changed goes and comes back.
            let gone: Vec<&str> = was
                .iter()
                .filter(|e| !new_set.contains(e))
                .map(|(k, _)| k.as_str())
                .collect();
            if !gone.is_empty() {
                let _ = writeln!(
                    out,
                    "delete element {FAMILY} {NFT_TABLE} {set} {{ {} }}",
                    gone.join(", ")
                );
            }
            add_elements(out, &set, new.iter().filter(|e| !was_set.contains(e)));
        }
    }
}

/// `add element` of `els` with their comments (nothing when none).
fn add_elements<'a>(out: &mut String, set: &str, els: impl Iterator<Item = &'a Element>) {
    let text: Vec<String> = els.map(|(k, c)| format!("{k} {c}")).collect();
    if !text.is_empty() {
        let _ = writeln!(
            out,
            "add element {FAMILY} {NFT_TABLE} {set} {{ {} }}",
            text.join(", ")
        );
    }
}
