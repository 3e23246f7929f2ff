//! One self-contained HTML page: the diagram, the listing and the
//! explanations (no external scripts or styles).

use std::fmt::Write;

use super::svg::escape;
use crate::model::Trace;

pub fn render(trace: &Trace) -> String {
    let r = &trace.request;
    let title = format!("journey {} → {}:{}", r.from, r.to, r.port);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} pre{{background:#f8f9f9;padding:1em;overflow-x:auto}} li.note{{margin:.3em 0}} .kind{{font-weight:bold;color:#7d3c98}}</style>
</head><body>
<h1>{t}</h1>
<p>Lab <b>{lab}</b>: {n} packets seen at {pts} capture points. Red: the first packet of the flow; blue, dashed: its answer. Hover an arrow or a device for details.</p>
"#,
        t = escape(&title),
        lab = escape(&trace.lab),
        n = trace.packets.len(),
        pts = trace.points.len()
    );
    s.push_str(&super::svg::render(trace));
    s.push_str("<h2>Explanations</h2>\n<ul id=\"notes\">\n");
    for n in &trace.notes {
        let _ = writeln!(
            s,
            r#"<li class="note" data-kind="{k}"><span class="kind">{k}</span> {t}</li>"#,
            k = escape(&n.kind),
            t = escape(&n.text)
        );
    }
    s.push_str("</ul>\n<h2>Every hop</h2>\n<pre id=\"listing\">");
    s.push_str(&escape(&super::text::render(trace)));
    s.push_str("</pre>\n</body></html>\n");
    s
}

pub fn write_file(trace: &Trace, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(path, render(trace)).with_context(|| format!("writing {}", path.display()))
}
