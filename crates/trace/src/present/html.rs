//! One self-contained HTML page: the picture, then the text (the story
//! and the listing); no scripts, no external styles.

use std::fmt::Write;

use super::svg::escape;
use crate::model::Trace;

pub fn render(trace: &Trace) -> String {
    let r = &trace.request;
    let title = format!("journey {} → {}:{}", r.from, r.to, r.port);
    let mut s = String::new();
    // The picture comes right under one line of title, so it is whole in
    // a 1,400 × 900 window; the story in words and every hop follow.
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>body{{font-family:sans-serif;margin:8px 12px}} h1{{font-size:18px;margin:4px 0 6px}} pre{{background:#f8f9f9;padding:1em;overflow-x:auto}}</style>
</head><body>
<h1>{t} <small style="font-weight:normal;font-size:13px">lab {lab}: {n} packets at {pts} capture points; hover a box for its notes</small></h1>
"#,
        t = escape(&title),
        lab = escape(&trace.lab),
        n = trace.packets.len(),
        pts = trace.points.len()
    );
    s.push_str(&super::svg::render(trace));
    s.push_str("<h2>The journey in words, then every hop</h2>\n<pre id=\"listing\">");
    s.push_str(&escape(&super::text::render(trace)));
    s.push_str("</pre>\n</body></html>\n");
    s
}

pub fn write_file(trace: &Trace, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(path, render(trace)).with_context(|| format!("writing {}", path.display()))
}
