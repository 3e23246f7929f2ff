//! Routing: the kernel's own decision (as `ip route get`) in every namespace
//! a packet leaves, for the address it carries there (the outer one for a
//! VXLAN frame), once per namespace and destination.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Result;
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::{Handle, RouteDecision};

use super::annotator::{Annotator, Context};
use crate::capture::CapturePoint;
use crate::model::{Kind, Note, Trace};

#[derive(Default)]
pub struct Routing {
    handles: HashMap<PathBuf, Handle>,
}

impl Routing {
    fn handle(&mut self, p: &CapturePoint) -> Result<&mut Handle> {
        if !self.handles.contains_key(&p.ns_path) {
            let label = match &p.pod {
                Some(pod) => format!("pod {pod}"),
                None => p.node.clone(),
            };
            let ns = NetNs::open(&p.ns_path, label)?;
            self.handles.insert(p.ns_path.clone(), Handle::in_netns(&ns)?);
        }
        Ok(self.handles.get_mut(&p.ns_path).expect("just inserted"))
    }

    /// `10.0.2.2 via 10.0.2.0 dev lby_vxlan src 10.0.1.1`, or why not.
    pub fn describe(&mut self, p: &CapturePoint, dst: Ipv4Addr) -> Result<String> {
        let h = self.handle(p)?;
        let d: RouteDecision = match h.route_get(dst) {
            Ok(d) => d,
            Err(e) => return Ok(format!("no route to {dst} ({e})")),
        };
        if d.local {
            return Ok(format!("{dst} is local: delivered to this namespace"));
        }
        let links = h.links()?;
        let dev = d
            .oif
            .and_then(|i| links.iter().find(|l| l.index == i))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| "?".into());
        let mut s = dst.to_string();
        if let Some(gw) = d.gateway {
            s.push_str(&format!(" via {gw}"));
        }
        s.push_str(&format!(" dev {dev}"));
        if let Some(src) = d.src {
            s.push_str(&format!(" src {src}"));
        }
        Ok(s)
    }
}

impl Annotator for Routing {
    fn name(&self) -> &'static str {
        "route"
    }

    fn annotate(&mut self, _ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let mut notes = Vec::new();
        let mut done: HashSet<(PathBuf, Ipv4Addr)> = HashSet::new();
        for p in trace.flow_first().filter(|p| p.kind != Kind::Icmp) {
            for (i, hop) in p.hops.iter().enumerate().filter(|(_, h)| h.outgoing) {
                let point = trace.point(hop);
                let Some(dst) = routed_dst(hop) else { continue };
                // The first device a packet leaves a namespace by, for an
                // address, is where the routing decision was made (the
                // envelope of a VXLAN frame is routed anew).
                let first_out_here = p.hops[..i].iter().all(|h| {
                    !(h.outgoing && trace.point(h).ns_path == point.ns_path && routed_dst(h) == Some(dst))
                });
                if !first_out_here || !done.insert((point.ns_path.clone(), dst)) {
                    continue;
                }
                let where_ = match &point.pod {
                    Some(pod) => format!("pod {pod} on {}", point.node),
                    None => point.node.clone(),
                };
                let text = format!("{where_}: route {}", self.describe(point, dst)?);
                notes.push(Note::new("route", text).at(p.id, i, hop.point));
            }
        }
        Ok(notes)
    }
}

/// The address a hop is routed by: the envelope's for a VXLAN frame.
fn routed_dst(h: &crate::model::Hop) -> Option<Ipv4Addr> {
    match (&h.decoded.vxlan, &h.decoded.packet) {
        (Some(v), _) => Some(v.dst),
        (None, Some(pkt)) => Some(pkt.ip.dst),
        _ => None,
    }
}
