//! The predicted path next to an observed one (a trace's JSON): which
//! predicted devices the traced flow really crossed, and which devices it
//! crossed that the prediction did not name.

use std::path::Path;

use anyhow::{Context, Result};

use super::path::Step;

/// (node, `host` or pod label, device) of every point the first packet of
/// the traced flow crossed, in order.
pub type Observed = Vec<(String, String, String)>;

pub fn observed(file: &Path) -> Result<Observed> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not a trace's JSON", file.display()))?;
    Ok(parse(&v))
}

fn parse(v: &serde_json::Value) -> Observed {
    let points = v["points"].as_array().cloned().unwrap_or_default();
    let Some(first) = v["packets"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["kind"] == "flow"))
    else {
        return Vec::new();
    };
    first["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| {
            let p = points.get(h["point"].as_u64()? as usize)?;
            Some((
                p["node"].as_str()?.to_string(),
                p["pod"].as_str().unwrap_or("host").to_string(),
                p["device"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn same(s: &Step, o: &(String, String, String)) -> bool {
    Some(o.2.as_str()) == s.device.as_deref() && o.0 == s.node && o.1 == s.netns
}

/// "✓ " when the traced flow crossed this step's device, "✗ " when not.
pub fn mark(s: &Step, observed: &Observed) -> &'static str {
    match &s.device {
        None => "  ",
        Some(_) if observed.iter().any(|o| same(s, o)) => "✓ ",
        Some(_) => "✗ ",
    }
}

/// Devices the flow crossed that the prediction does not name.
pub fn divergence(steps: &[Step], observed: &Observed) -> Vec<String> {
    let mut out: Vec<String> = observed
        .iter()
        .filter(|o| !steps.iter().any(|s| same(s, o)))
        .map(|o| format!("observed at {} / {} / {} but not predicted", o.0, o.1, o.2))
        .collect();
    out.dedup();
    for s in steps.iter().filter(|s| s.device.is_some()) {
        if !observed.iter().any(|o| same(s, o)) {
            out.push(format!(
                "predicted {} / {} / {} but not observed",
                s.node,
                s.netns,
                s.device.as_deref().unwrap_or("")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_what_the_trace_crossed_and_what_it_did_not() {
        let v = serde_json::json!({
            "points": [
                {"node": "node-1", "pod": "wrk-1/a", "device": "eth0"},
                {"node": "node-1", "device": "lxc1"},
                {"node": "node-1", "device": "ens4"},
            ],
            "packets": [
                {"kind": "dns", "hops": [{"point": 0}]},
                {"kind": "flow", "hops": [{"point": 0}, {"point": 1}, {"point": 2}]},
            ],
        });
        let o = parse(&v);
        assert_eq!(o.len(), 3);
        let step = |netns: &str, dev: &str| Step {
            node: "node-1".into(),
            netns: netns.into(),
            device: Some(dev.into()),
            kind: "route",
            text: String::new(),
        };
        let steps = vec![
            step("wrk-1/a", "eth0"),
            step("host", "lxc1"),
            step("host", "lby_vxlan"),
        ];
        assert_eq!(mark(&steps[0], &o), "✓ ");
        assert_eq!(mark(&steps[2], &o), "✗ ");
        let d = divergence(&steps, &o);
        assert!(d.iter().any(|x| x.contains("ens4 but not predicted")), "{d:?}");
        assert!(
            d.iter().any(|x| x.contains("lby_vxlan but not observed")),
            "{d:?}"
        );
    }
}
