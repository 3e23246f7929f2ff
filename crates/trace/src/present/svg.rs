//! The picture: the story drawn top to bottom. One row per hop of the
//! traced packet, grouped in a band per node in path order, the underlay
//! between two nodes; the DNS leg as the first row, going out to the DNS
//! pod in a column of its own (off the path, with its node named); what
//! changed at each hop (translation, encapsulation, arrival) written next
//! to it, not only on hover. Nodes the packet never crossed are not drawn.
//! Rows are as tall as their text, so no two labels meet, and the whole
//! fits a 1,400 × 900 window for a usual journey.
//!
//! Elements a test measures carry `data-box` (a hop's or the DNS pod's
//! box) or `data-label` (any text but a box's own name).

use std::fmt::Write;

use super::story::{self, Story};
use crate::capture::Role;
use crate::model::{Hop, Trace};

/// The whole picture's width; the window is 1,400.
const WIDTH: f64 = 1340.0;
/// The node bands, left; the column for what is off the path, right.
const BAND_X: f64 = 10.0;
const BAND_W: f64 = 1040.0;
const OFF_X: f64 = 1070.0;
const OFF_W: f64 = 260.0;
/// Device boxes and where their labels start.
const BOX_CX: f64 = 150.0;
const BOX_W: f64 = 170.0;
const BOX_H: f64 = 26.0;
const LABEL_X: f64 = 260.0;
const LINE_H: f64 = 15.0;
/// Label characters per line: DejaVu Sans (Chromium's sans-serif here) is
/// about 7.6 px a digit at 12 px; the label column is 780 px.
const LABEL_CHARS: usize = 98;
const BAND_HEAD: f64 = 26.0;
const UNDERLAY_H: f64 = 34.0;

const MAIN: &str = "#c0392b";
const REPLY: &str = "#2471a3";
const TRANSLATION: &str = "#7d3c98";
const TUNNEL: &str = "#ca6f1e";
const PLAIN: &str = "#1c2833";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Split `s` at spaces into lines of at most `max` characters.
fn wrap(s: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The addresses a hop carries: inner endpoints, and on the underlay the
/// envelope first.
pub fn hop_label(h: &Hop) -> String {
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
        Some(v) => format!("{} → {} UDP {} VNI {} [{inner}]", v.src, v.dst, v.dport, v.vni),
        None => inner,
    }
}

/// A line of a row's label, with its colour and weight.
struct Line {
    text: String,
    color: &'static str,
    bold: bool,
}

fn lines_of(text: &str, color: &'static str, bold: bool, max: usize) -> Vec<Line> {
    wrap(text, max)
        .into_iter()
        .map(|text| Line { text, color, bold })
        .collect()
}

fn colour_of(change: &str) -> (&'static str, bool) {
    if change.contains("rewritten") {
        (TRANSLATION, true)
    } else if change.contains("VXLAN") || change.contains("underlay") {
        (TUNNEL, true)
    } else {
        (PLAIN, false)
    }
}

/// `<text>` lines from `y` down, each marked as a label.
fn text_block(s: &mut String, x: f64, y: f64, lines: &[Line], what: &str) {
    for (i, l) in lines.iter().enumerate() {
        let weight = if l.bold { r#" font-weight="bold""# } else { "" };
        // A box's own text is not a label of its own.
        let mark = if what.is_empty() {
            String::new()
        } else {
            format!(r#" data-label="{what}""#)
        };
        let _ = writeln!(
            s,
            r#"<text{mark} x="{x}" y="{ty}" fill="{c}"{weight}>{t}</text>"#,
            ty = y + LINE_H * (i as f64 + 1.0) - 3.0,
            c = l.color,
            t = escape(&l.text)
        );
    }
}

fn device_box(s: &mut String, (cx, y): (f64, f64), fill: &str, title: &str, name: &str, what: &str) {
    let w = BOX_W;
    let _ = writeln!(
        s,
        r##"<g data-box="{what}"><title>{title}</title><rect x="{x}" y="{y}" width="{w}" height="{BOX_H}" rx="4" fill="{fill}" stroke="#2c3e50"/><text x="{cx}" y="{ty}" text-anchor="middle">{name}</text></g>"##,
        x = cx - w / 2.0,
        ty = y + 17.0,
        title = escape(title),
        name = escape(name)
    );
}

fn arrow(s: &mut String, x: f64, (y1, y2): (f64, f64), color: &str, marker: &str, dashed: bool) {
    let dash = if dashed { r#" stroke-dasharray="6 4""# } else { "" };
    let _ = writeln!(
        s,
        r#"<line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" stroke="{color}" stroke-width="2"{dash} marker-end="url(#{marker})"/>"#
    );
}

/// The DNS leg's row: the lookups next to the client, the DNS pod off the
/// path on the right.
fn dns_row(s: &mut String, trace: &Trace, story: &Story, y: f64) -> f64 {
    let Some(dns) = &story.dns else { return y };
    let mut lines = Vec::new();
    for &i in &dns.notes {
        let n = &trace.notes[i];
        if n.kind == crate::explain::dns::RESOLV_NOTE {
            let conf = n.text.split_once(": ").map_or(n.text.as_str(), |(_, c)| c);
            lines.extend(lines_of(
                &format!("resolv.conf: {conf}"),
                PLAIN,
                false,
                LABEL_CHARS,
            ));
        }
    }
    for l in &dns.lookups {
        lines.extend(lines_of(l, PLAIN, false, LABEL_CHARS));
    }
    // The DNS ClusterIP's translation, as the first query shows it.
    if let Some(q) = trace.packets.iter().find(|p| p.kind == crate::model::Kind::Dns) {
        for k in 1..q.hops.len() {
            for c in story::changes(trace, q, k)
                .into_iter()
                .filter(|c| c.contains("rewritten"))
            {
                let (color, bold) = colour_of(&c);
                let text = format!("{c} on {}", trace.point(&q.hops[k]).node);
                lines.extend(lines_of(&text, color, bold, LABEL_CHARS));
            }
        }
    }
    // The arrow to the DNS pod runs along the top, the lookups under it.
    let text_y = y + 8.0 + BOX_H + 4.0;
    let h = text_y - y + lines.len() as f64 * LINE_H + 10.0;
    let _ = writeln!(
        s,
        r##"<g class="dns"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="#eafaf1" stroke="#27ae60"/>"##,
        x = BAND_X + 20.0,
        w = BAND_W - 40.0,
        y = y + 2.0,
        h = h - 4.0
    );
    let title = format!("{} asks the cluster DNS", trace.request.from);
    device_box(
        s,
        (BOX_CX, y + 8.0),
        "#d5f5e3",
        &title,
        "DNS lookup",
        "dns-client",
    );
    text_block(s, LABEL_X, text_y, &lines, "dns");
    // The server(s), off the path.
    let mut sy = y + 6.0;
    for server in &dns.servers {
        let mut box_lines = vec![format!("DNS pod on {}", server.node)];
        if let Some(p) = &server.pod {
            match p.split_once('/') {
                Some((ns, name)) => box_lines.extend([format!("{ns}/"), name.to_string()]),
                None => box_lines.push(p.clone()),
            }
        }
        box_lines.push(server.ip.to_string());
        let bh = box_lines.len() as f64 * LINE_H + 8.0;
        let _ = writeln!(
            s,
            r##"<g data-box="dns-server"><title>answered the lookups</title><rect x="{OFF_X}" y="{sy}" width="{OFF_W}" height="{bh}" rx="4" fill="#fdfefe" stroke="#27ae60" stroke-dasharray="4 3"/>"##
        );
        let lines: Vec<Line> = box_lines
            .into_iter()
            .enumerate()
            .map(|(i, text)| Line {
                text,
                color: PLAIN,
                bold: i == 0,
            })
            .collect();
        text_block(s, OFF_X + 8.0, sy + 2.0, &lines, "");
        s.push_str("</g>\n");
        sy += bh + 6.0;
    }
    let ay = y + 8.0 + BOX_H / 2.0;
    let _ = writeln!(
        s,
        r##"<line x1="{x1}" y1="{ay}" x2="{x2}" y2="{ay}" stroke="#27ae60" stroke-width="1.5" stroke-dasharray="2 3" marker-end="url(#arrow-dns)"/>"##,
        x1 = BOX_CX + BOX_W / 2.0,
        x2 = OFF_X - 4.0
    );
    y + h.max(sy - y)
}

pub fn render(trace: &Trace) -> String {
    let story = story::tell(trace);
    let mut body = String::new();
    let mut y = 8.0;
    let main = story.packet.map(|id| &trace.packets[id]);
    let reply = story.reply.as_ref().map(|r| &trace.packets[r.packet]);
    // Row of each drawn point (its box's top), for the arrows.
    let mut rows: Vec<(usize, f64)> = Vec::new();
    let mut band: Option<(String, f64)> = None;
    let close_band = |body: &mut String, band: &Option<(String, f64)>, bottom: f64| {
        if let Some((name, top)) = band {
            let _ = writeln!(
                body,
                r##"<g class="node" data-node="{n}"><rect x="{BAND_X}" y="{top}" width="{BAND_W}" height="{h}" rx="8" fill="none" stroke="#34495e" stroke-width="2"/></g>"##,
                n = escape(name),
                h = bottom - top
            );
        }
    };
    let mut first = true;
    for step in &story.steps {
        let point = &trace.points[step.point];
        if band.as_ref().map(|(n, _)| n) != Some(&point.node) {
            if band.is_some() {
                close_band(&mut body, &band, y);
                let _ = writeln!(
                    body,
                    r##"<rect x="{BAND_X}" y="{ry}" width="{BAND_W}" height="{h}" fill="#eaecee"/>"##,
                    ry = y + 6.0,
                    h = UNDERLAY_H - 12.0
                );
                text_block(
                    &mut body,
                    BAND_X + 12.0,
                    y + 8.0,
                    &[Line {
                        text: "underlay (VPC)".into(),
                        color: "#555",
                        bold: false,
                    }],
                    "underlay",
                );
                y += UNDERLAY_H;
            }
            band = Some((point.node.clone(), y));
            text_block(
                &mut body,
                BAND_X + 10.0,
                y + 4.0,
                &[Line {
                    text: point.node.clone(),
                    color: PLAIN,
                    bold: true,
                }],
                "node",
            );
            y += BAND_HEAD;
            if first {
                y = dns_row(&mut body, trace, &story, y);
                first = false;
            }
        }
        let h = &main.expect("steps are of the main packet").hops[step.hop];
        let dir = if step.outgoing { "out" } else { "in" };
        let mut lines = Vec::new();
        if let Some(pod) = &point.pod {
            lines.extend(lines_of(&format!("pod {pod}"), "#1e8449", false, LABEL_CHARS));
        }
        let head = if step.hop == 0 {
            format!("{dir}: sends {}", hop_label(h))
        } else {
            format!("{dir}: {}", step.changes[0])
        };
        let (c0, b0) = colour_of(&head);
        lines.extend(lines_of(&head, c0, b0, LABEL_CHARS));
        for c in step.changes.iter().skip(1).filter(|_| step.hop > 0) {
            let (color, bold) = colour_of(c);
            lines.extend(lines_of(c, color, bold, LABEL_CHARS));
        }
        // The answer's rewrites, where they happened.
        if let Some(r) = reply {
            for k in 1..r.hops.len() {
                if r.hops[k].point != step.point {
                    continue;
                }
                for c in story::changes(trace, r, k)
                    .into_iter()
                    .filter(|c| c.contains("rewritten"))
                {
                    lines.extend(lines_of(&format!("answer: {c}"), REPLY, true, LABEL_CHARS));
                }
            }
        }
        let row_h = (lines.len() as f64 * LINE_H + 12.0).max(BOX_H + 22.0);
        let box_y = y + (row_h - BOX_H) / 2.0;
        let fill = if point.role == Role::PodEth {
            "#d5f5e3"
        } else {
            "#ffffff"
        };
        let mut title = format!("{} — {}", point.description(), h.summary);
        for &i in &step.notes {
            title.push_str(&format!("\n[{}] {}", trace.notes[i].kind, trace.notes[i].text));
        }
        let _ = writeln!(
            body,
            r##"<g class="hop main" data-packet="{id}" data-hop="{k}" data-point="{pt}"><circle cx="40" cy="{cy}" r="11" fill="{MAIN}"/><text x="40" y="{ty}" text-anchor="middle" fill="#fff" font-weight="bold">{n}</text></g>"##,
            id = main.map_or(0, |m| m.id),
            k = step.hop,
            pt = step.point,
            cy = box_y + BOX_H / 2.0,
            ty = box_y + BOX_H / 2.0 + 4.0,
            n = step.hop + 1
        );
        device_box(&mut body, (BOX_CX, box_y), fill, &title, &point.device, "hop");
        text_block(
            &mut body,
            LABEL_X,
            y + (row_h - lines.len() as f64 * LINE_H) / 2.0,
            &lines,
            "hop",
        );
        rows.push((step.point, box_y));
        y += row_h;
    }
    close_band(&mut body, &band, y);
    if story.steps.is_empty() {
        y = dns_row(&mut body, trace, &story, y);
    }
    // The traced packet down the column, the answer (dashed) back up.
    for w in rows.windows(2) {
        arrow(
            &mut body,
            BOX_CX - 30.0,
            (w[0].1 + BOX_H, w[1].1 - 1.0),
            MAIN,
            "arrow",
            false,
        );
    }
    if let Some(r) = reply {
        let drawn: Vec<f64> = r
            .hops
            .iter()
            .filter_map(|h| rows.iter().find(|(p, _)| *p == h.point).map(|(_, y)| *y))
            .collect();
        for w in drawn.windows(2).filter(|w| w[1] < w[0]) {
            arrow(
                &mut body,
                BOX_CX + 30.0,
                (w[0], w[1] + BOX_H + 1.0),
                REPLY,
                "arrow-reply",
                true,
            );
        }
    }
    let legend = match (main, reply) {
        (Some(m), Some(r)) => format!(
            "red: packet #{} hop by hop, top to bottom; blue dashed: the answer #{} coming back; purple: translation; orange: the tunnel and the underlay",
            m.id, r.id
        ),
        (Some(m), None) => format!("red: packet #{} hop by hop, top to bottom; purple: translation; orange: the tunnel and the underlay", m.id),
        _ => "no packet of the flow was captured".into(),
    };
    text_block(
        &mut body,
        BAND_X,
        y + 6.0,
        &lines_of(&legend, "#555", false, 170),
        "legend",
    );
    let height = y + 6.0 + 2.0 * LINE_H + 6.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" id="journey" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{MAIN}"/></marker>
<marker id="arrow-reply" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{REPLY}"/></marker>
<marker id="arrow-dns" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#27ae60"/></marker></defs>"##
    );
    s.push_str(&body);
    s.push_str("</svg>\n");
    s
}
