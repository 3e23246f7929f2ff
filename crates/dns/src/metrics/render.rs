//! The Prometheus text format (version 0.0.4) of [`Metrics`]: HELP and TYPE
//! lines, one sample per label set seen (zero series are left out, as a
//! client library leaves out label sets never touched), histograms with
//! cumulative `le` buckets, `_sum` and `_count`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::counters::{bucket_bound, Metrics, BUCKETS, FAMILIES, PROTOS, RCODES};
use super::qtype::QTYPES;

/// The zone label: the one server block, the root, as kubeadm's Corefile
/// (`.:53 { … }`).
const ZONE: &str = ".";

pub fn text(m: &Metrics) -> String {
    let mut o = String::new();
    let s = &m.server;
    o.push_str(
        "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n",
    );
    o.push_str("# TYPE coredns_dns_requests_total counter\n");
    for (p, proto) in PROTOS.iter().enumerate() {
        for (f, fam) in FAMILIES.iter().enumerate() {
            for (t, ty) in QTYPES.iter().enumerate() {
                let n = m.requests[p][f][t].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        o,
                        "coredns_dns_requests_total{{server=\"{s}\",zone=\"{ZONE}\",proto=\"{proto}\",family=\"{fam}\",type=\"{ty}\"}} {n}"
                    );
                }
            }
        }
    }
    o.push_str("# HELP coredns_dns_responses_total Counter of response status codes.\n");
    o.push_str("# TYPE coredns_dns_responses_total counter\n");
    for (r, rcode) in RCODES.iter().enumerate() {
        let n = m.responses[r].load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(
                o,
                "coredns_dns_responses_total{{server=\"{s}\",zone=\"{ZONE}\",rcode=\"{rcode}\"}} {n}"
            );
        }
    }
    o.push_str(
        "# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took.\n",
    );
    o.push_str("# TYPE coredns_dns_request_duration_seconds histogram\n");
    for (t, ty) in QTYPES.iter().enumerate() {
        let count = m.hist_count[t].load(Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let labels = format!("server=\"{s}\",zone=\"{ZONE}\",type=\"{ty}\"");
        let mut cum = 0;
        for i in 0..BUCKETS {
            cum += m.hist[t][i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "coredns_dns_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {cum}",
                bucket_bound(i)
            );
        }
        let _ = writeln!(
            o,
            "coredns_dns_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = m.hist_sum_ns[t].load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(o, "coredns_dns_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(
            o,
            "coredns_dns_request_duration_seconds_count{{{labels}}} {count}"
        );
    }
    o
}
