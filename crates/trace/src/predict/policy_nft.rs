//! NetworkPolicy in the prediction of an nftables node: the virtual packet
//! walked through the node's own table `ip labyrinth-policy`, read as
//! `nft -j` JSON (the kernel's state as nft's documented JSON schema
//! gives it): the pods map of the direction finds the judged pod's chain,
//! whose first matching rule returns (allowed: the set element it hit, or
//! else the rule's comment, names the policy, rule and peer) or drops (its
//! comment names the isolating policies). No element for the pod: nothing isolates it.

use std::net::Ipv4Addr;

use labyrinth_policy::names::{dropped_pod, isolated_by, nft_pods_map};
use labyrinth_policy::{Direction, Protocol};
use serde_json::Value;

use super::policy::Judgement;

/// The table's objects of one kind (`map`, `set`, `rule`), in list order.
fn objects<'a>(doc: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(move |o| o.get(kind))
}

fn addr(v: &Value) -> Option<Ipv4Addr> {
    v.as_str()?.parse().ok()
}

/// Does an address element (an address, `{"prefix"}` or `{"range"}`)
/// hold `ip`?
fn addr_has(e: &Value, ip: Ipv4Addr) -> bool {
    if let Some(a) = addr(e) {
        return a == ip;
    }
    if let Some(p) = e.get("prefix") {
        let (Some(a), Some(len)) = (addr(&p["addr"]), p["len"].as_u64()) else {
            return false;
        };
        return ipnet::Ipv4Net::new(a, len as u8).is_ok_and(|n| n.contains(&ip));
    }
    if let Some([lo, hi]) = e.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        return matches!((addr(lo), addr(hi)), (Some(lo), Some(hi)) if (lo..=hi).contains(&ip));
    }
    false
}

fn port_in(right: &Value, port: u16) -> bool {
    if let Some(n) = right.as_u64() {
        return n == u64::from(port);
    }
    match right.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        Some([lo, hi]) => {
            matches!((lo.as_u64(), hi.as_u64()), (Some(lo), Some(hi)) if (lo..=hi).contains(&u64::from(port)))
        }
        _ => false,
    }
}

/// The packet as a set lookup sees it.
struct Key {
    peer: Ipv4Addr,
    proto: Protocol,
    port: u16,
}

/// Does a set element hold the key: an address element for a lookup of
/// the peer alone, a `{"concat"}` of (address, protocol, port) for a
/// lookup of the three?
fn elem_has(val: &Value, k: &Key, concat: bool) -> bool {
    match (
        concat,
        val.get("concat").and_then(Value::as_array).map(Vec::as_slice),
    ) {
        (true, Some([a, proto, port])) => {
            addr_has(a, k.peer) && proto == k.proto.lower() && port_in(port, k.port)
        }
        (false, None) => addr_has(val, k.peer),
        _ => false,
    }
}

/// Whether the set `name` holds the key; Some(the element's comment, if
/// any) when it does.
fn set_hit(doc: &Value, name: &str, k: &Key, concat: bool) -> Option<Option<String>> {
    let set = objects(doc, "set").find(|s| s["name"] == name)?;
    set["elem"].as_array()?.iter().find_map(|e| {
        // An element with a comment comes as {"elem": {"val", "comment"}}.
        let (val, comment) = match e.get("elem") {
            Some(x) => (&x["val"], x["comment"].as_str().map(str::to_string)),
            None => (e, None),
        };
        elem_has(val, k, concat).then_some(comment)
    })
}

/// Whether one `match` expression of our rules holds for the packet:
/// None when it does not, else Some(the comment of the set element it
/// hit, if any). An expression of another shape does not hold (the walk
/// then says nothing rather than something wrong: the drop rule still
/// names the policies).
fn holds(doc: &Value, m: &Value, peer_field: &str, k: &Key) -> Option<Option<String>> {
    let (left, right) = (&m["left"], &m["right"]);
    if m["op"] != "==" {
        return None;
    }
    let set = right.as_str().and_then(|r| r.strip_prefix('@'));
    let is_peer = |v: &Value| v["payload"]["protocol"] == "ip" && v["payload"]["field"] == peer_field;
    let concat = left.get("concat").and_then(Value::as_array).map(Vec::as_slice);
    if let (Some(set), Some([a, proto, port])) = (set, concat) {
        let th_dport = serde_json::json!({"protocol": "th", "field": "dport"});
        let shape = is_peer(a) && proto["meta"]["key"] == "l4proto" && port["payload"] == th_dport;
        return if shape { set_hit(doc, set, k, true) } else { None };
    }
    if left["meta"]["key"] == "l4proto" {
        return (right == k.proto.lower()).then_some(None);
    }
    let payload = &left["payload"];
    let hit = match (payload["protocol"].as_str(), payload["field"].as_str()) {
        (Some("ip"), Some(f)) if f == peer_field => return set.and_then(|set| set_hit(doc, set, k, false)),
        (Some("th"), Some("dport")) => port_in(right, k.port),
        (Some(p), Some("dport")) => p == k.proto.lower() && port_in(right, k.port),
        _ => false,
    };
    hit.then_some(None)
}

/// How the table `doc` (`nft -j list table ip labyrinth-policy`, parsed
/// once for as many judgements as asked) judges a new connection in
/// direction `dir` of the pod at `me` with `peer`; None when the pod has
/// no chain there (or no table).
pub fn judge(
    doc: &Value,
    dir: Direction,
    me: Ipv4Addr,
    peer: Ipv4Addr,
    proto: Protocol,
    port: u16,
) -> Option<Judgement> {
    let map = objects(doc, "map").find(|m| m["name"] == nft_pods_map(dir))?;
    let chain = map["elem"].as_array()?.iter().find_map(|e| {
        let [key, verdict] = e.as_array()?.as_slice() else {
            return None;
        };
        (addr(key)? == me).then(|| verdict["jump"]["target"].as_str().map(str::to_string))?
    })?;
    let peer_field = match dir {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    let k = Key { peer, proto, port };
    'rules: for rule in objects(doc, "rule").filter(|r| r["chain"] == chain.as_str()) {
        let exprs = rule["expr"].as_array()?;
        let mut comment = rule["comment"].as_str().unwrap_or_default().to_string();
        for m in exprs.iter().filter_map(|e| e.get("match")) {
            match holds(doc, m, peer_field, &k) {
                None => continue 'rules,
                // The set element's comment names the allow.
                Some(Some(element)) => comment = element,
                Some(None) => {}
            }
        }
        if exprs.iter().any(|e| e.get("return").is_some()) {
            return Some(Judgement::Allowed { chain, by: comment });
        }
        if exprs.iter().any(|e| e.get("drop").is_some()) {
            let pod = dropped_pod(&comment).unwrap_or_default().to_string();
            let by = isolated_by(&comment).unwrap_or_else(|| vec![comment]);
            return Some(Judgement::Dropped {
                chain,
                pod,
                isolated_by: by,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nft -j list table` of a table the renderer wrote
    /// (crates/proxy/src/netpol/nftables.rs) loaded by nft 1.0.6: tcp
    /// 9000-9999 from 10.0.1.3, 10.1.0.0/16, 10.2.0.0/24, 10.2.1.0/24, 10.9.0.0/16,
    /// udp 53 and sctp from every peer, cut into disjoint elements (some
    /// shown back as prefixes); egress allowed to every address.
    const TABLE: &str = include_str!("testdata/policy_nft.json");

    fn doc() -> Value {
        serde_json::from_str(TABLE).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ingress(peer: &str, proto: Protocol, port: u16) -> Option<Judgement> {
        judge(&doc(), Direction::Ingress, ip("10.0.2.5"), ip(peer), proto, port)
    }

    #[test]
    fn walks_the_pod_chain_of_the_table() {
        let chain = "ingress-wrk-2/server".to_string();
        let allowed = |by: &str| {
            Some(Judgement::Allowed {
                chain: chain.clone(),
                by: by.into(),
            })
        };
        let peer1 = allowed("wrk-2/allow-frontend ingress rule 0 peer 1");
        assert_eq!(ingress("10.0.1.3", Protocol::Tcp, 9000), peer1);
        assert_eq!(ingress("10.2.1.7", Protocol::Tcp, 9999), peer1);
        assert_eq!(ingress("10.9.200.1", Protocol::Tcp, 9500), peer1);
        assert_eq!(
            ingress("10.0.1.4", Protocol::Udp, 53),
            allowed("wrk-2/allow-frontend ingress rule 0 every peer")
        );
        assert_eq!(
            ingress("10.7.0.1", Protocol::Sctp, 1),
            allowed("wrk-2/allow-frontend ingress rule 1 every peer")
        );
        let dropped = Some(Judgement::Dropped {
            chain: chain.clone(),
            pod: "wrk-2/server".into(),
            isolated_by: vec!["wrk-2/allow-frontend".into(), "wrk-2/deny-all".into()],
        });
        assert_eq!(
            ingress("10.0.1.4", Protocol::Tcp, 9000),
            dropped,
            "outside the set"
        );
        assert_eq!(
            ingress("10.0.1.3", Protocol::Tcp, 8999),
            dropped,
            "below the range"
        );
        assert_eq!(
            ingress("10.0.1.3", Protocol::Udp, 9000),
            dropped,
            "another protocol"
        );
        assert_eq!(
            ingress("10.2.2.0", Protocol::Tcp, 9000),
            dropped,
            "past the peers"
        );
        let eg = judge(
            &doc(),
            Direction::Egress,
            ip("10.0.2.5"),
            ip("1.1.1.1"),
            Protocol::Tcp,
            1,
        );
        assert_eq!(
            eg,
            Some(Judgement::Allowed {
                chain: "egress-wrk-2/server".into(),
                by: "wrk-2/allow-all egress rule 0 every peer".into()
            })
        );
        assert_eq!(
            judge(
                &doc(),
                Direction::Ingress,
                ip("10.0.2.6"),
                ip("10.0.1.3"),
                Protocol::Tcp,
                9000
            ),
            None
        );
        assert_eq!(
            judge(
                &serde_json::json!({"nftables": []}),
                Direction::Ingress,
                ip("10.0.2.5"),
                ip("10.0.1.3"),
                Protocol::Tcp,
                9000
            ),
            None
        );
    }
}
