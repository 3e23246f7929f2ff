//! The listing: one section per capture point in path order (node /
//! namespace / device), one tshark-style line per packet seen there, then
//! the explanations.

use std::fmt::Write;

use crate::model::Trace;

pub fn render(trace: &Trace) -> String {
    let r = &trace.request;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {} → {}:{} ({}) in lab {}: {} packets, {} capture points",
        r.from,
        r.to,
        r.port,
        if r.udp { "UDP" } else { "TCP" },
        trace.lab,
        trace.packets.len(),
        trace.points.len()
    );
    let order = super::points_in_path_order(trace);
    for &pt in &order {
        let point = &trace.points[pt];
        let _ = writeln!(out, "\n{}", point.heading());
        let mut lines: Vec<(f64, String)> = Vec::new();
        for p in &trace.packets {
            for h in p.hops.iter().filter(|h| h.point == pt) {
                let dir = if h.outgoing { "out" } else { "in " };
                lines.push((h.t, format!("  #{:<3} {:>9.6} {dir} {}", p.id, h.t, h.summary)));
            }
        }
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, l) in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    let quiet: Vec<String> = (0..trace.points.len())
        .filter(|i| !order.contains(i))
        .map(|i| trace.points[i].heading())
        .collect();
    if !quiet.is_empty() {
        let _ = writeln!(out, "\nno packets at: {}", quiet.join(", "));
    }
    let lost: u64 = trace.capture_drops.iter().sum();
    if lost > 0 {
        let _ = writeln!(out, "capture lost {lost} frames (kernel drops)");
    }
    if let Some(main) = super::main_packet(trace) {
        let path: Vec<String> = main
            .hops
            .iter()
            .map(|h| {
                let p = trace.point(h);
                format!("{}:{}", p.node, p.device)
            })
            .collect();
        let _ = writeln!(out, "\npath of #{}: {}", main.id, path.join(" → "));
    }
    if !trace.notes.is_empty() {
        let _ = writeln!(out, "\nexplanations:");
        for n in &trace.notes {
            let at = n.packet.map(|p| format!(" #{p}")).unwrap_or_default();
            let _ = writeln!(out, "  [{}]{at} {}", n.kind, n.text);
        }
    }
    out
}
