//! `--json`: the whole trace (request, points, packets with hops, notes).

use anyhow::Result;

use crate::model::Trace;

pub fn render(trace: &Trace) -> Result<String> {
    Ok(serde_json::to_string_pretty(trace)?)
}
