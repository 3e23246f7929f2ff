//! A real scrape over loopback, checked against the rules of the text
//! exposition format by a small validator (here, so the check needs no
//! Prometheus library): HELP/TYPE before a family's samples and at most
//! once, a family's samples together, well-formed names, labels and
//! values, and histograms with ascending, cumulative buckets ending in
//! `+Inf` = `_count`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use labyrinth_proxy::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{spawn, CONTENT_TYPE};

/// (status, lower-cased headers, body) of `GET path`.
async fn get(addr: SocketAddr, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect::<BTreeMap<_, _>>();
    assert!(
        !headers.contains_key("transfer-encoding"),
        "a fixed-length body: {headers:?}"
    );
    (status, headers, body.to_string())
}

async fn serving(metrics: Metrics) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn(listener, Arc::new(Mutex::new(metrics)));
    addr
}

/// (sample name, labels, value)
type Sample = (String, Vec<(String, String)>, f64);

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: bool,
    samples: Vec<Sample>,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// One sample line: name, labels, value (a timestamp may follow).
fn sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(mut l) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = l.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = l.split_once("=\"").ok_or("label without =\"")?;
            if !valid_name(key) || key.contains(':') {
                return Err(format!("bad label name {key:?}"));
            }
            let mut value = String::new();
            let mut chars = after.char_indices();
            let close = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_string(), value));
            l = after[close + 1..].trim_start_matches(',');
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value: f64 = value.parse().map_err(|_| format!("bad value {value:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    Ok((name.to_string(), labels, value))
}

/// The families of an exposition, or what is wrong with it.
fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("the last line has no newline".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (Some(kw @ ("HELP" | "TYPE")), Some(name)) = (parts.next(), parts.next()) else {
                continue; // an ordinary comment
            };
            if !valid_name(name) {
                return Err(at(format!("bad family name {name:?}")));
            }
            let f = families.entry(name.to_string()).or_default();
            if !f.samples.is_empty() {
                return Err(at(format!("{kw} after the family's samples")));
            }
            if kw == "HELP" {
                if std::mem::replace(&mut f.help, true) {
                    return Err(at("a second HELP".into()));
                }
            } else {
                let kind = parts.next().unwrap_or_default();
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at(format!("unknown type {kind:?}")));
                }
                if !f.kind.is_empty() {
                    return Err(at("a second TYPE".into()));
                }
                f.kind = kind.to_string();
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let s = sample(line).map_err(at)?;
        let family = [
            &s.0[..],
            s.0.trim_end_matches("_bucket"),
            s.0.trim_end_matches("_sum"),
            s.0.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|f| families.get(*f).is_some_and(|f| !f.kind.is_empty()))
        .ok_or_else(|| at("a sample of no TYPEd family".into()))?
        .to_string();
        if current.as_ref().is_some_and(|c| *c != family) && !families[&family].samples.is_empty() {
            return Err(at(format!("samples of {family} are not together")));
        }
        current = Some(family.clone());
        families.get_mut(&family).expect("found above").samples.push(s);
    }
    for (name, f) in families.iter().filter(|(_, f)| f.kind == "histogram") {
        check_histogram(name, f)?;
    }
    Ok(families)
}

fn check_histogram(name: &str, f: &Family) -> Result<(), String> {
    let one = |suffix: &str| {
        let full = format!("{name}{suffix}");
        let v: Vec<f64> = f.samples.iter().filter(|s| s.0 == full).map(|s| s.2).collect();
        match v[..] {
            [x] => Ok(x),
            _ => Err(format!("{name}: {} {full} samples", v.len())),
        }
    };
    let count = one("_count")?;
    one("_sum")?;
    let mut last: Option<(f64, f64)> = None;
    for (_, labels, v) in f.samples.iter().filter(|s| s.0 == format!("{name}_bucket")) {
        let le = labels
            .iter()
            .find(|(k, _)| k == "le")
            .ok_or_else(|| format!("{name}: a bucket without le"))?;
        let bound: f64 = le.1.parse().map_err(|_| format!("{name}: le={:?}", le.1))?;
        if let Some((b, c)) = last {
            if bound <= b || *v < c {
                return Err(format!(
                    "{name}: bucket le={} after le={b} is not cumulative",
                    le.1
                ));
            }
        }
        last = Some((bound, *v));
    }
    match last {
        Some((b, c)) if b == f64::INFINITY && c == count => Ok(()),
        _ => Err(format!("{name}: no le=\"+Inf\" bucket equal to _count {count}")),
    }
}

#[tokio::test]
async fn a_scrape_is_exposition_format_with_kube_proxys_names() {
    let mut m = Metrics::default();
    m.observe_sync(
        true,
        Duration::from_millis(3),
        &[SystemTime::now() - Duration::from_millis(600)],
    );
    m.observe_sync(false, Duration::from_micros(500), &[]);
    m.conntrack_flushed = 2;
    let addr = serving(m).await;

    let (status, headers, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    let families = parse(&body).unwrap_or_else(|e| panic!("not exposition format: {e}\n{body}"));
    let kinds: Vec<(&str, &str)> = families
        .iter()
        .map(|(n, f)| (n.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("kubeproxy_network_programming_duration_seconds", "histogram"),
            ("kubeproxy_sync_full_proxy_rules_duration_seconds", "histogram"),
            ("kubeproxy_sync_partial_proxy_rules_duration_seconds", "histogram"),
            ("kubeproxy_sync_proxy_rules_duration_seconds", "histogram"),
            (
                "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                "gauge"
            ),
            ("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge"),
            ("labyrinth_proxy_conntrack_entries_flushed_total", "counter"),
            ("labyrinth_proxy_drift_repairs_total", "counter"),
        ]
    );
    assert!(families.values().all(|f| f.help), "every family has HELP");
    let value = |name: &str| {
        let f = &families[name.trim_end_matches("_count")];
        f.samples.iter().find(|s| s.0 == name).unwrap().2
    };
    assert_eq!(value("kubeproxy_sync_proxy_rules_duration_seconds_count"), 2.0);
    assert_eq!(value("kubeproxy_network_programming_duration_seconds_count"), 1.0);
    assert_eq!(value("labyrinth_proxy_conntrack_entries_flushed_total"), 2.0);
}

#[tokio::test]
async fn health_answers_and_unknown_paths_are_not_found() {
    let addr = serving(Metrics::default()).await;
    for path in ["/healthz", "/livez"] {
        let (status, _, body) = get(addr, path).await;
        assert_eq!((status, body.as_str()), (200, "ok\n"), "{path}");
    }
    assert_eq!(get(addr, "/nope").await.0, 404);
}

#[test]
fn the_validator_rejects_what_prometheus_would() {
    let ok = "# HELP a A.\n# TYPE a counter\na 1\n";
    assert!(parse(ok).is_ok());
    for (bad, why) in [
        ("# TYPE a counter\na 1", "no final newline"),
        ("a 1\n", "no TYPE"),
        ("# TYPE a counter\na one\n", "bad value"),
        ("# TYPE a counter\n# TYPE a gauge\na 1\n", "second TYPE"),
        ("# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n", "interleaved"),
        ("# TYPE a counter\na{x=\"1} 1\n", "unterminated label"),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "not cumulative",
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "no +Inf",
        ),
    ] {
        assert!(parse(bad).is_err(), "{why}: {bad:?}");
    }
}
