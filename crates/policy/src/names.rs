//! How the iptables and nftables renderings name their chains, sets and
//! maps and word their DROP comment: written by the datapath
//! (`labyrinth-proxy`), read back by the tracer's `explain` and by tests,
//! so all take them from here.

use crate::model::Direction;

/// The dispatch chain FORWARD jumps to.
pub const POLICY_CHAIN: &str = "LABY-POLICY";
/// Every chain of ours starts so (stale ones are found by it).
pub const CHAIN_PREFIX: &str = "LABY-";
/// The comment of the jump from FORWARD.
pub const JUMP_COMMENT: &str = "labyrinth network policy";

/// The per-pod chain's prefix for a direction (a hash of the pod follows).
pub fn pod_chain_prefix(dir: Direction) -> &'static str {
    match dir {
        Direction::Ingress => "LABY-IN-",
        Direction::Egress => "LABY-EG-",
    }
}

/// The nftables rendering's own table (family `ip`). Not the Service
/// datapath's `labyrinth` table: that one is recreated by the proxy's full
/// syncs, which would wipe policy state written by another thread.
pub const NFT_TABLE: &str = "labyrinth-policy";
/// Its base chain on the forward hook.
pub const NFT_FORWARD_CHAIN: &str = "forward";

/// The verdict map from a pod's address to its chain for a direction.
pub fn nft_pods_map(dir: Direction) -> &'static str {
    match dir {
        Direction::Ingress => "ingress-pods",
        Direction::Egress => "egress-pods",
    }
}

/// A pod's chain for a direction, readable: "ingress-ns/pod".
pub fn nft_pod_chain(pod: &str, dir: Direction) -> String {
    format!("{}-{pod}", dir.as_str())
}

/// The interval set of a pod chain's allowed (peer . protocol . port)
/// pieces, "ingress-ns/pod-allow"; `every_protocol`: the set of peers
/// allowed in every protocol, "ingress-ns/pod-allow-any" (no pod name
/// makes one's "-allow" another's "-allow-any": it would end in "-any").
pub fn nft_allow_set(chain: &str, every_protocol: bool) -> String {
    if every_protocol {
        format!("{chain}-allow-any")
    } else {
        format!("{chain}-allow")
    }
}

/// The DROP rule's comment: "ns/pod: isolated for ingress by a/p, b/q; no
/// rule allows".
pub fn drop_comment(pod: &str, dir: Direction, by: &[String]) -> String {
    format!(
        "{pod}: isolated for {} by {}; no rule allows",
        dir.as_str(),
        by.join(", ")
    )
}

/// The pod named by a [`drop_comment`] ("ns/pod").
pub fn dropped_pod(comment: &str) -> Option<&str> {
    comment.split_once(": isolated for ").map(|(pod, _)| pod)
}

/// The netfilter log group the iptables and nftables drops are logged to
/// (NFLOG), which `labyrinth observe` reads in the node.
pub const LOG_GROUP: u16 = 1818;

/// The log prefix of a drop: the direction alone (prefixes hold at most
/// 64 bytes in iptables), the judged pod is the packet's own end and its
/// drop rule's comment names the policies.
pub fn log_prefix(dir: Direction) -> &'static str {
    match dir {
        Direction::Ingress => "LABY-POLICY ingress",
        Direction::Egress => "LABY-POLICY egress",
    }
}

/// The direction a [`log_prefix`] stands for.
pub fn logged_direction(prefix: &str) -> Option<Direction> {
    [Direction::Ingress, Direction::Egress]
        .into_iter()
        .find(|d| log_prefix(*d) == prefix)
}

/// The isolating policies named by a [`drop_comment`].
pub fn isolated_by(comment: &str) -> Option<Vec<String>> {
    let (_, rest) = comment.split_once(": isolated for ")?;
    let (_, by) = rest.split_once(" by ")?;
    let by = by.strip_suffix("; no rule allows")?;
    Some(by.split(", ").map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_comment_reads_back() {
        let by = vec!["x/deny-all".to_string(), "x/allow-a".to_string()];
        let c = drop_comment("x/b", Direction::Ingress, &by);
        assert_eq!(
            c,
            "x/b: isolated for ingress by x/deny-all, x/allow-a; no rule allows"
        );
        assert_eq!(isolated_by(&c), Some(by));
        assert_eq!(dropped_pod(&c), Some("x/b"));
        assert_eq!(
            logged_direction(log_prefix(Direction::Egress)),
            Some(Direction::Egress)
        );
        assert_eq!(logged_direction("LABY-POLICY"), None);
        assert_eq!(isolated_by("something else"), None);
    }
}
