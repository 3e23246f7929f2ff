//! Presenting a trace: a text listing grouped by node / namespace /
//! interface, JSON, a merged pcapng, and an HTML page with an SVG diagram.

pub mod html;
pub mod json;
pub mod pcapng;
pub mod story;
pub mod svg;
pub mod text;

use crate::model::{Kind, PacketTrace, Trace};

/// Capture points in path order (by the first time each saw a packet),
/// with the quiet ones left out.
pub fn points_in_path_order(trace: &Trace) -> Vec<usize> {
    let mut first: Vec<(f64, usize)> = Vec::new();
    for p in &trace.packets {
        for h in &p.hops {
            match first.iter_mut().find(|(_, pt)| *pt == h.point) {
                Some(e) => e.0 = e.0.min(h.t),
                None => first.push((h.t, h.point)),
            }
        }
    }
    first.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    first.into_iter().map(|(_, p)| p).collect()
}

/// The packet that best shows the journey: the first packet of the flow
/// sent by the source pod (the SYN), else the first of any kind.
pub fn main_packet(trace: &Trace) -> Option<&PacketTrace> {
    let from = Some(trace.request.from.as_str());
    trace
        .flow()
        .find(|p| trace.point(&p.hops[0]).pod.as_deref() == from)
        .or_else(|| trace.packets.iter().find(|p| p.kind == Kind::Flow))
        .or_else(|| trace.packets.first())
}
