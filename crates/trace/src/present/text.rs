//! The text: first the story (the DNS leg, then the traced packet hop by
//! hop in path order, each hop with what changed there and why), then the
//! listing: one section per capture point in path order (node / namespace
//! / device), one tshark-style line per packet seen there, then the
//! explanations the story did not tell (other packets).

use std::fmt::Write;

use super::story::Story;
use crate::explain::dns::{DNS_NOTE, RESOLV_NOTE};
use crate::model::{Note, Trace};

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
    let story = super::story::tell(trace);
    story_text(&mut out, trace, &story);
    let _ = writeln!(out, "\nEvery capture point, in path order:");
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
    let rest: Vec<&Note> = trace
        .notes
        .iter()
        .zip(&story.told)
        .filter(|(_, told)| !**told)
        .map(|(n, _)| n)
        .collect();
    if !rest.is_empty() {
        let _ = writeln!(out, "\nmore explanations (other packets):");
        for n in rest {
            let at = n.packet.map(|p| format!(" #{p}")).unwrap_or_default();
            let _ = writeln!(out, "  [{}]{at} {}", n.kind, n.text);
        }
    }
    out
}

/// The numbered account: the DNS leg, one step per hop, the answer.
fn story_text(out: &mut String, trace: &Trace, story: &Story) {
    let _ = writeln!(out, "\nThe journey, hop by hop:");
    let mut n = 0;
    let mut step = |out: &mut String, head: String| {
        n += 1;
        let _ = writeln!(out, "{n:>3}. {head}");
    };
    let note_lines = |out: &mut String, notes: &[usize]| {
        for &i in notes {
            let note = &trace.notes[i];
            let _ = writeln!(out, "       [{}] {}", note.kind, note.text);
        }
    };
    if let Some(dns) = &story.dns {
        let asked = dns.asked.map(|a| format!(", asking {a}")).unwrap_or_default();
        step(
            out,
            format!("DNS: {} looks up {}{asked}", trace.request.from, trace.request.to),
        );
        // The resolver's configuration first; the answers' own notes say
        // no more than the lines below.
        for &i in &dns.notes {
            let n = &trace.notes[i];
            if n.kind == RESOLV_NOTE {
                let conf = n.text.split_once(": ").map_or(n.text.as_str(), |(_, c)| c);
                let _ = writeln!(out, "       its /etc/resolv.conf: {conf}");
            }
        }
        for l in &dns.lookups {
            let _ = writeln!(out, "       {l}");
        }
        for s in &dns.servers {
            let pod = s.pod.as_ref().map(|p| format!(", pod {p}")).unwrap_or_default();
            let _ = writeln!(out, "       answered by {}{pod} on {}", s.ip, s.node);
        }
        let translations: Vec<usize> = dns
            .notes
            .iter()
            .copied()
            .filter(|&i| !matches!(trace.notes[i].kind.as_str(), RESOLV_NOTE | DNS_NOTE))
            .collect();
        note_lines(out, &translations);
    }
    let Some(id) = story.packet else {
        let _ = writeln!(out, "  (no packet of the flow was captured)");
        return;
    };
    let packet = &trace.packets[id];
    let total = story.steps.len();
    for s in &story.steps {
        let h = &packet.hops[s.hop];
        let dir = if s.outgoing { "out" } else { "in" };
        let mut head = format!(
            "hop {}/{total} {} ({dir}): {}",
            s.hop + 1,
            trace.points[s.point].heading(),
            s.changes.join("; ")
        );
        if s.hop == 0 {
            head.push_str(&format!(" — #{id} {}", h.summary));
        }
        step(out, head);
        note_lines(out, &s.notes);
    }
    if let Some(r) = &story.reply {
        let summary = &trace.packets[r.packet].hops[0].summary;
        let mut head = format!(
            "the answer #{} ({summary}) came back over {} hops",
            r.packet, r.hops
        );
        for (node, what) in &r.rewrites {
            head.push_str(&format!("; on {node}: {what}"));
        }
        step(out, head);
    }
}
