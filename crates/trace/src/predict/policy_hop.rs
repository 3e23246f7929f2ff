//! The trace's policy annotator: a packet of the traced flow that the
//! source pod sent and no other pod received is judged by the policy
//! state of the nodes it crossed (the source pod's egress on its node,
//! then the destination pod's ingress on its node), read as `explain`
//! reads it. A drop there becomes a note on the packet's last hop naming
//! the node, the device in front of the judged pod and the reason: the
//! isolating policies, and that no rule allows the connection.
//!
//! It lives beside the prediction (whose policy walk it reuses) rather
//! than among the explain annotators, which the prediction imports.

use anyhow::Result;
use labyrinth_policy::Direction;

use super::path::node_judgement;
use super::policy::Judgement;
use crate::capture::Role;
use crate::explain::{Annotator, Context};
use crate::model::{Kind, Note, Trace};
use crate::topology::Pod;

pub struct PolicyHop;

/// The text of a drop of `judged` (the pod whose policy dropped it) in
/// `dir`, with the other end named `other`.
#[allow(clippy::too_many_arguments)]
pub fn drop_text(
    judged: &Pod,
    dir: Direction,
    rules: &str,
    chain: &str,
    proto: &str,
    port: u16,
    other: &str,
    isolated_by: &[String],
) -> String {
    let (verb, word) = match dir {
        Direction::Ingress => ("entering", "from"),
        Direction::Egress => ("leaving", "to"),
    };
    let dev = judged.host_veth.as_deref().unwrap_or("its host-side veth");
    format!(
        "dropped by policy {verb} {} on {} at device {dev} ({rules} {chain}): no policy selecting it allows {} {port} {word} {other}; \
         it is isolated for {} by {}",
        judged.label(),
        judged.node,
        proto.to_uppercase(),
        dir.as_str(),
        isolated_by.join(", ")
    )
}

impl Annotator for PolicyHop {
    fn name(&self) -> &'static str {
        "policy"
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let lab = ctx.lab;
        let src = lab.pod(&ctx.request.from)?;
        let Some(src_ip) = src.ip else { return Ok(vec![]) };
        let proto = if ctx.request.udp { "udp" } else { "tcp" };
        let mut notes = Vec::new();
        for p in trace.packets.iter().filter(|p| p.kind == Kind::Flow) {
            if trace.point(&p.hops[0]).pod.as_deref() != Some(ctx.request.from.as_str()) {
                continue;
            }
            let arrived = p.hops.iter().any(|h| {
                let pt = trace.point(h);
                pt.role == Role::PodEth && pt.pod.as_deref() != Some(ctx.request.from.as_str())
            });
            if arrived {
                continue;
            }
            // The destination as last seen (after any Service translation).
            let Some((dst, port)) = p.hops.iter().rev().find_map(|h| {
                let k = h.decoded.packet.as_ref()?;
                (k.ip.src == src_ip).then_some((k.ip.dst, k.ports()?.1))
            }) else {
                continue;
            };
            let dst_pod = lab.pod_by_ip(dst);
            let dst_label = dst_pod.map_or(dst.to_string(), |d| format!("{} ({dst})", d.label()));
            let src_label = format!("{} ({src_ip})", src.label());
            let mut judged = vec![(src, Direction::Egress, src_ip, dst, dst_label)];
            if let Some(d) = dst_pod {
                judged.push((d, Direction::Ingress, dst, src_ip, src_label));
            }
            for (pod, dir, me, peer, other) in judged {
                let Some((j, rules)) = node_judgement(lab, &pod.node, dir, me, peer, proto, port) else {
                    continue;
                };
                if let Judgement::Dropped {
                    chain, isolated_by, ..
                } = j
                {
                    let last = p.hops.len() - 1;
                    let text = drop_text(pod, dir, rules, &chain, proto, port, &other, &isolated_by);
                    notes.push(Note::new("policy", text).at(p.id, last, p.hops[last].point));
                    break;
                }
            }
        }
        // Retransmissions tell the same story once.
        let mut seen = std::collections::HashSet::new();
        notes.retain(|n| seen.insert(n.text.clone()));
        Ok(notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_names_node_device_policies_and_no_rule() {
        let pod = Pod {
            namespace: "wrk-2".into(),
            name: "server".into(),
            uid: "u".into(),
            node: "node-2".into(),
            ip: Some("10.0.2.5".parse().unwrap()),
            netns: "cni-u".into(),
            host_veth: Some("veth1234".into()),
            netns_path: Default::default(),
        };
        let t = drop_text(
            &pod,
            Direction::Ingress,
            "nftables chain",
            "ingress-wrk-2/server",
            "tcp",
            9999,
            "wrk-1/client (10.0.1.3)",
            &["wrk-2/deny-all".into()],
        );
        assert_eq!(
            t,
            "dropped by policy entering wrk-2/server on node-2 at device veth1234 (nftables chain ingress-wrk-2/server): \
             no policy selecting it allows TCP 9999 from wrk-1/client (10.0.1.3); it is isolated for ingress by wrk-2/deny-all"
        );
    }
}
