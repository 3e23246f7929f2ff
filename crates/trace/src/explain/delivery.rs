//! Delivery: the pod a flow ends in, the veth it came through, and the
//! process holding the socket. Listeners are read before the capture too,
//! because `nc -l` exits as soon as its one connection closes.

use std::path::PathBuf;

use anyhow::Result;

use labyrinth_contracts::bpf::{ConfigRow, MapKind};
use labyrinth_contracts::modes::PodDelivery;

use super::annotator::{Annotator, Context};
use super::service::bpf_map;
use super::sockets::{listeners, Listener};
use crate::capture::Role;
use crate::model::{Note, Trace};
use crate::topology::Pod;

#[derive(Default)]
pub struct Delivery {
    /// (pod netns file, its listeners) read before the capture.
    before: Vec<(PathBuf, Vec<Listener>)>,
}

fn candidates<'a>(ctx: &Context<'a>) -> Vec<&'a Pod> {
    let to = ctx.request.to.parse().ok();
    match to.and_then(|ip| ctx.lab.pod_by_ip(ip)) {
        Some(p) => vec![p],
        None => ctx.lab.pods.iter().collect(),
    }
}

/// Whether `node`'s eBPF programs deliver by peer redirect (its config map).
fn peer_redirect(ctx: &Context, node: &str) -> bool {
    bpf_map::<ConfigRow>(&ctx.lab.name, node, MapKind::Config)
        .and_then(|rows| rows.into_iter().next())
        .is_some_and(|c| c.delivery == PodDelivery::PeerRedirect)
}

impl Annotator for Delivery {
    fn name(&self) -> &'static str {
        "delivery"
    }

    fn before(&mut self, ctx: &Context) -> Result<()> {
        self.before = candidates(ctx)
            .into_iter()
            .map(|p| (p.netns_path.clone(), listeners(&p.netns_path)))
            .collect();
        Ok(())
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let udp = ctx.request.udp;
        // The first packet sent by the source pod that reached another
        // pod's eth0.
        let from = Some(ctx.request.from.as_str());
        let arrival = trace
            .flow()
            .filter(|p| trace.point(&p.hops[0]).pod.as_deref() == from)
            .find_map(|p| {
                p.hops.iter().enumerate().find_map(|(i, h)| {
                    let pt = trace.point(h);
                    (pt.role == Role::PodEth && !h.outgoing && pt.pod.as_deref() != from).then_some((p, i, h))
                })
            });
        let Some((p, i, hop)) = arrival else {
            return Ok(vec![]);
        };
        let point = trace.point(hop);
        let Some(pod) = ctx.lab.pods.iter().find(|pod| pod.netns == point.netns) else {
            return Ok(vec![]);
        };
        let pkt = hop.decoded.packet.as_ref().expect("arrival has a packet");
        let (_, dport) = pkt.ports().unwrap_or((0, 0));
        let mut known: Vec<Listener> = self
            .before
            .iter()
            .filter(|(ns, _)| *ns == pod.netns_path)
            .flat_map(|(_, l)| l.clone())
            .collect();
        known.extend(listeners(&pod.netns_path));
        let holder = known.iter().find(|l| l.port == dport && l.udp == udp);
        let via = pod.host_veth.as_deref().unwrap_or("its veth");
        // Not seen on the host veth although it was captured there: the
        // packet went straight into eth0. The eBPF datapath does that only
        // with peer redirect on, which its config map says.
        let skipped = pod.host_veth.as_deref().filter(|v| {
            trace
                .points
                .iter()
                .any(|pt| pt.device == *v && pt.node == pod.node)
                && !p.hops[..i].iter().any(|h| trace.point(h).device == *v)
        });
        let through = match skipped {
            Some(v) if peer_redirect(ctx, &pod.node) => format!(
                "straight into eth0, past {v}: bpf_redirect_peer skipped the host veth \
                 (the eBPF datapath's peer redirect is on)"
            ),
            Some(v) => format!("straight into eth0, past {v} (not seen on {v})"),
            None => format!("through {via} → eth0"),
        };
        let mut text = format!(
            "delivered to pod {} on {} (netns {}) {through}, to {}:{dport}",
            pod.label(),
            pod.node,
            pod.netns,
            pkt.ip.dst
        );
        match holder {
            Some(l) => text.push_str(&format!(
                "; socket {}:{} held by pid {} ({}) [host pid {}]",
                l.addr, l.port, l.node_pid, l.cmdline, l.pid
            )),
            None => text.push_str(&format!(
                "; no process listens on {} port {dport} in that pod",
                if udp { "UDP" } else { "TCP" }
            )),
        }
        Ok(vec![Note::new("delivery", text).at(p.id, i, hop.point)])
    }
}
