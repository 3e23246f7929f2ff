//! The incremental load: the one `nft -f` transaction taking the policy
//! table from what it holds (the pods' objects of the last load) to what
//! a new compile wants, touching only what changed, as kube-proxy's
//! nftables mode does: a write that changes one pod's allows adds and
//! deletes that pod's set elements, and a pod newly isolated or released
//! adds or deletes its chain, sets and verdict-map element. Rewriting the
//! whole table took a stream of 1,000 policy writes seconds behind (each
//! load re-sent every element of every pod).
//!
//! Order inside the transaction: verdict-map elements that go first (a
//! chain cannot be deleted while an element jumps to it), then the chains
//! that go, the chains that come, the chains that change, and last the
//! map elements that come (a jump needs its chain). The kernel applies
//! the transaction whole, so no packet sees a half-changed table.

use std::collections::BTreeMap;
use std::fmt::Write;

use labyrinth_policy::names::{nft_pods_map, NFT_TABLE};

use super::nft_objects::{PodObjects, FAMILY};

/// The transaction from `old` to `new`; empty when they are the same.
pub fn diff(old: &[PodObjects], new: &[PodObjects]) -> String {
    let was: BTreeMap<&str, &PodObjects> = old.iter().map(|o| (o.chain.as_str(), o)).collect();
    let now: BTreeMap<&str, &PodObjects> = new.iter().map(|o| (o.chain.as_str(), o)).collect();
    // (direction's map, ip, chain) of every jump.
    let jumps = |m: &BTreeMap<&str, &PodObjects>| -> Vec<(&str, String, String)> {
        m.values()
            .map(|o| (nft_pods_map(o.direction), o.ip.to_string(), o.chain.clone()))
            .collect()
    };
    let (jumps_was, jumps_now) = (jumps(&was), jumps(&now));
    let mut out = String::new();
    for (map, ip, _) in jumps_was.iter().filter(|j| !jumps_now.contains(j)) {
        let _ = writeln!(out, "delete element {FAMILY} {NFT_TABLE} {map} {{ {ip} }}");
    }
    for o in was.values().filter(|o| !now.contains_key(o.chain.as_str())) {
        o.delete(&mut out);
    }
    for o in now.values().filter(|o| !was.contains_key(o.chain.as_str())) {
        o.add(&mut out);
    }
    for (chain, o) in &now {
        let Some(w) = was.get(chain) else { continue };
        if o == w {
            continue;
        }
        if o.same_rules(w) {
            o.element_changes(w, &mut out);
        } else {
            w.clear(&mut out);
            o.add_sets_and_rules(&mut out);
        }
    }
    for (map, ip, chain) in jumps_now.iter().filter(|j| !jumps_was.contains(j)) {
        let _ = writeln!(
            out,
            "add element {FAMILY} {NFT_TABLE} {map} {{ {ip} : jump {chain} }}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::fixtures::{allow, server};
    use labyrinth_policy::{Direction, PodRules, Protocol};

    fn objects(rules: &[PodRules]) -> Vec<PodObjects> {
        rules.iter().map(PodObjects::of).collect()
    }

    fn tcp_from(net: &str, port: u16) -> labyrinth_policy::Allow {
        allow(Some(0), Some(net), Some(Protocol::Tcp), Some((port, port)))
    }

    #[test]
    fn nothing_changed_is_an_empty_transaction() {
        let pods = objects(&[server(Direction::Ingress, vec![tcp_from("10.0.1.3/32", 80)])]);
        assert_eq!(diff(&pods, &pods), "");
    }

    #[test]
    fn a_new_allow_adds_only_its_element() {
        let old = server(Direction::Ingress, vec![tcp_from("10.0.1.3/32", 80)]);
        let mut new = old.clone();
        new.allows.push(tcp_from("10.0.1.9/32", 80));
        let text = diff(
            &objects(std::slice::from_ref(&old)),
            &objects(std::slice::from_ref(&new)),
        );
        assert_eq!(
            text,
            "add element ip labyrinth-policy ingress-wrk-2/server-allow { 10.0.1.9 . tcp . 80 \
             comment \"wrk-2/allow-frontend ingress rule 0 peer 0\" }\n"
        );
        // And back: only that element goes.
        assert_eq!(
            diff(&objects(&[new]), &objects(&[old])),
            "delete element ip labyrinth-policy ingress-wrk-2/server-allow { 10.0.1.9 . tcp . 80 }\n"
        );
    }

    #[test]
    fn a_pod_isolated_or_released_adds_or_deletes_its_chain_sets_and_jump() {
        let pod = server(Direction::Egress, vec![tcp_from("10.0.1.3/32", 80)]);
        let added = diff(&[], &objects(std::slice::from_ref(&pod)));
        assert!(
            added.starts_with("add chain ip labyrinth-policy egress-wrk-2/server\n"),
            "{added}"
        );
        assert!(
            added.ends_with(
                "add element ip labyrinth-policy egress-pods { 10.0.2.5 : jump egress-wrk-2/server }\n"
            ),
            "{added}"
        );
        let removed = diff(&objects(&[pod]), &[]);
        assert_eq!(
            removed,
            "delete element ip labyrinth-policy egress-pods { 10.0.2.5 }\n\
             flush chain ip labyrinth-policy egress-wrk-2/server\n\
             delete set ip labyrinth-policy egress-wrk-2/server-allow\n\
             delete chain ip labyrinth-policy egress-wrk-2/server\n"
        );
    }

    #[test]
    fn a_changed_drop_or_a_set_coming_rewrites_that_chain_only() {
        let other = {
            let mut r = server(Direction::Ingress, vec![tcp_from("10.0.1.3/32", 80)]);
            r.name = "other".into();
            r.ip = "10.0.2.6".parse().unwrap();
            r
        };
        let old = server(Direction::Ingress, vec![tcp_from("10.0.1.3/32", 80)]);
        let mut new = old.clone();
        new.allows.push(allow(Some(1), Some("10.0.3.0/24"), None, None));
        let text = diff(&objects(&[old, other.clone()]), &objects(&[new.clone(), other]));
        assert!(
            text.starts_with(
                "flush chain ip labyrinth-policy ingress-wrk-2/server\n\
                 delete set ip labyrinth-policy ingress-wrk-2/server-allow\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("add set ip labyrinth-policy ingress-wrk-2/server-allow-any"),
            "{text}"
        );
        assert!(
            !text.contains("wrk-2/other"),
            "the unchanged pod was touched: {text}"
        );
        assert!(!text.contains("-pods"), "the jump did not change: {text}");
    }

    #[test]
    fn a_new_address_moves_the_jump() {
        let old = server(Direction::Ingress, vec![]);
        let mut new = old.clone();
        new.ip = "10.0.2.77".parse().unwrap();
        let text = diff(&objects(&[old]), &objects(&[new]));
        assert_eq!(
            text,
            "delete element ip labyrinth-policy ingress-pods { 10.0.2.5 }\n\
             add element ip labyrinth-policy ingress-pods { 10.0.2.77 : jump ingress-wrk-2/server }\n"
        );
    }
}
