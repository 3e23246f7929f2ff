//! The diagram: nodes as boxes side by side, pod namespaces inside them,
//! devices as ports, and the path of the main packet (and its reply,
//! dashed) as arrows, each labelled with the addresses on that hop.

use std::collections::HashMap;
use std::fmt::Write;

use crate::capture::Role;
use crate::model::{Hop, PacketTrace, Trace};

const COL_W: f64 = 300.0;
const GAP: f64 = 120.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 500.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(role: Role) -> f64 {
    match role {
        Role::PodEth => 100.0,
        Role::HostVeth => 200.0,
        Role::Gateway => 280.0,
        Role::Tunnel => 360.0,
        Role::Uplink => 440.0,
    }
}

struct NodeBox {
    name: String,
    x: f64,
    width: f64,
    /// Pods with the x of their column.
    pods: Vec<(String, f64)>,
}

/// Where each capture point is drawn, plus the node boxes.
struct Layout {
    pos: HashMap<usize, (f64, f64)>,
    nodes: Vec<NodeBox>,
    width: f64,
}

fn layout(trace: &Trace) -> Layout {
    let mut node_names: Vec<String> = Vec::new();
    for &i in &super::points_in_path_order(trace) {
        let n = &trace.points[i].node;
        if !node_names.contains(n) {
            node_names.push(n.clone());
        }
    }
    let mut pos = HashMap::new();
    let mut nodes = Vec::new();
    let mut x = 20.0;
    for name in node_names {
        let mut pods: Vec<String> = Vec::new();
        for p in trace.points.iter().filter(|p| p.node == name) {
            if let Some(pod) = p.pod.as_ref().or(p.peer_pod.as_ref()) {
                if !pods.contains(pod) {
                    pods.push(pod.clone());
                }
            }
        }
        let cols = pods.len().max(2) as f64;
        let width = cols * COL_W;
        let col_x: Vec<(String, f64)> = pods
            .iter()
            .enumerate()
            .map(|(c, p)| (p.clone(), x + COL_W * (c as f64 + 0.5)))
            .collect();
        let center = x + width / 2.0;
        for (i, p) in trace.points.iter().enumerate().filter(|(_, p)| p.node == name) {
            let px = match (p.role, p.pod.as_ref().or(p.peer_pod.as_ref())) {
                (Role::PodEth | Role::HostVeth, Some(pod)) => {
                    col_x.iter().find(|(n, _)| n == pod).map_or(center, |(_, x)| *x)
                }
                // Off to the side: the path from a pod's veth to the
                // tunnel runs through the middle.
                (Role::Gateway, _) if p.device.ends_with("host") => center + 110.0,
                (Role::Gateway, _) => center + 230.0,
                _ => center,
            };
            pos.insert(i, (px, row(p.role)));
        }
        nodes.push(NodeBox {
            name,
            x,
            width,
            pods: col_x,
        });
        x += width + GAP;
    }
    Layout {
        pos,
        nodes,
        width: x - GAP + 20.0,
    }
}

/// The addresses a hop carries: inner endpoints, and on the underlay the
/// envelope first (two lines).
pub fn hop_label(h: &Hop) -> Vec<String> {
    let inner = h
        .decoded
        .packet
        .as_ref()
        .map(|p| match p.ports() {
            Some((s, d)) => format!("{}:{s} → {}:{d}", p.ip.src, p.ip.dst),
            None => format!("{} → {}", p.ip.src, p.ip.dst),
        })
        .unwrap_or_default();
    match &h.decoded.vxlan {
        Some(v) => vec![
            format!("{} → {} UDP {} VNI {}", v.src, v.dst, v.dport, v.vni),
            format!("[{inner}]"),
        ],
        None => vec![inner],
    }
}

/// A `<text>` with one `<tspan>` per line.
fn text_lines(x: f64, y: f64, anchor: &str, color: &str, lines: &[String]) -> String {
    let mut t = format!(r#"<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{color}" font-size="10">"#);
    for (i, l) in lines.iter().enumerate() {
        let dy = if i == 0 { 0 } else { 12 };
        t.push_str(&format!(r#"<tspan x="{x}" dy="{dy}">{}</tspan>"#, escape(l)));
    }
    t.push_str("</text>");
    t
}

pub fn render(trace: &Trace) -> String {
    let l = layout(trace);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" id="journey" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>
<marker id="arrow-reply" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#2471a3"/></marker></defs>
"##,
        w = l.width,
        h = BOTTOM + 60.0
    );
    let _ = writeln!(
        s,
        r##"<line class="underlay" x1="10" y1="{y}" x2="{x2}" y2="{y}" stroke="#888" stroke-width="3"/><text x="14" y="{ty}" fill="#555">underlay (VPC)</text>"##,
        y = BOTTOM + 20.0,
        x2 = l.width - 10.0,
        ty = BOTTOM + 40.0
    );
    for NodeBox {
        name,
        x,
        width: w,
        pods,
    } in &l.nodes
    {
        let _ = writeln!(
            s,
            r##"<g class="node" data-node="{n}"><rect x="{x}" y="{TOP}" width="{w}" height="{h}" rx="8" fill="#f4f6f7" stroke="#34495e" stroke-width="2"/><text x="{tx}" y="{ty}" font-weight="bold" font-size="14">{n}</text>
<rect class="netns" x="{hx}" y="160" width="{hw}" height="{hh}" rx="6" fill="#fdfefe" stroke="#95a5a6" stroke-dasharray="4 3"/><text x="{htx}" y="176" fill="#7f8c8d">host netns</text></g>"##,
            n = escape(name),
            h = BOTTOM - TOP,
            tx = x + 10.0,
            ty = TOP + 18.0,
            hx = x + 8.0,
            hw = w - 16.0,
            hh = BOTTOM - 170.0,
            htx = x + 14.0
        );
        for (pod, px) in pods {
            let _ = writeln!(
                s,
                r##"<g class="netns pod" data-pod="{p}"><rect x="{x}" y="56" width="{w}" height="70" rx="6" fill="#eafaf1" stroke="#27ae60"/><text x="{tx}" y="70" font-size="10" fill="#1e8449">{short}</text></g>"##,
                p = escape(pod),
                x = px - COL_W / 2.0 + 10.0,
                w = COL_W - 20.0,
                tx = px - COL_W / 2.0 + 16.0,
                short = escape(pod)
            );
        }
    }
    for (i, (x, y)) in &l.pos {
        let p = &trace.points[*i];
        let _ = writeln!(
            s,
            r##"<g class="device" data-point="{i}" data-name="{name}"><title>{desc}</title><rect x="{rx}" y="{ry}" width="110" height="22" rx="4" fill="#fff" stroke="#2c3e50"/><text x="{x}" y="{ty}" text-anchor="middle">{dev}</text></g>"##,
            name = escape(&p.name()),
            desc = escape(&p.description()),
            rx = x - 55.0,
            ry = y - 11.0,
            ty = y + 4.0,
            dev = escape(&p.device)
        );
    }
    if let Some(main) = super::main_packet(trace) {
        arrows(&mut s, trace, &l, main, "main", "#c0392b", "arrow", 0.0);
        if let Some(reply) = reply_to(trace, main) {
            arrows(&mut s, trace, &l, reply, "reply", "#2471a3", "arrow-reply", 14.0);
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The first flow packet going the other way (SYN-ACK, UDP answer).
fn reply_to<'a>(trace: &'a Trace, main: &PacketTrace) -> Option<&'a PacketTrace> {
    let src = main.hops[0].decoded.packet.as_ref()?.ip.src;
    trace.flow().find(|p| {
        p.hops
            .last()
            .and_then(|h| h.decoded.packet.as_ref())
            .is_some_and(|k| k.ip.dst == src)
    })
}

#[allow(clippy::too_many_arguments)]
fn arrows(
    s: &mut String,
    trace: &Trace,
    l: &Layout,
    p: &PacketTrace,
    class: &str,
    color: &str,
    marker: &str,
    shift: f64,
) {
    let dash = if class == "reply" {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    for (k, h) in p.hops.iter().enumerate() {
        let Some(&(x2, y2)) = l.pos.get(&h.point) else {
            continue;
        };
        let label = hop_label(h);
        let title = escape(&format!("{} at {}", h.summary, trace.point(h).heading()));
        if k == 0 {
            let _ = writeln!(
                s,
                r#"<g class="hop {class}" data-packet="{id}" data-hop="0" data-point="{pt}"><title>{title}</title><circle cx="{cx}" cy="{y2}" r="5" fill="{color}"/>{text}</g>"#,
                id = p.id,
                pt = h.point,
                cx = x2 - 62.0 - shift,
                // The answer's start is labelled under its device.
                text = text_lines(
                    x2 - 55.0,
                    if shift > 0.0 { y2 + 24.0 } else { y2 - 16.0 },
                    "start",
                    color,
                    &label
                ),
            );
            continue;
        }
        let Some(&(x1, y1)) = l.pos.get(&p.hops[k - 1].point) else {
            continue;
        };
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // Stop at the device's edge; a hop on the same device is a loop mark.
        let (ex, ey) = (x2 - dx / len * 12.0, y2 - dy / len * 12.0);
        let horizontal = dy.abs() < 1.0;
        let (x1, y1, ex, ey) = if horizontal {
            (x1, y1 + 20.0 + shift, ex, ey + 20.0 + shift)
        } else {
            (x1 + shift, y1 + 12.0 * dy.signum(), ex + shift, ey)
        };
        let (mx, my) = ((x1 + ex) / 2.0, (y1 + ey) / 2.0);
        // Labels of the packet go left of its arrow, of the answer right.
        let (tx, ty, anchor) = match (horizontal, shift > 0.0) {
            (true, false) => (mx, my - 6.0 - 12.0 * (label.len() as f64 - 1.0), "middle"),
            (true, true) => (mx, my + 14.0, "middle"),
            (false, false) => (mx - 6.0, my - 2.0, "end"),
            (false, true) => (mx + 6.0, my + 10.0, "start"),
        };
        let _ = writeln!(
            s,
            r#"<g class="hop {class}" data-packet="{id}" data-hop="{k}" data-point="{pt}"><title>{title}</title><line x1="{x1}" y1="{y1}" x2="{ex}" y2="{ey}" stroke="{color}" stroke-width="2"{dash} marker-end="url(#{marker})"/>{text}</g>"#,
            id = p.id,
            pt = h.point,
            text = text_lines(tx, ty, anchor, color, &label),
        );
    }
}
