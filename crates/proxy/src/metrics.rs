//! kube-proxy's sync metrics, under kube-proxy's names, rendered in the
//! Prometheus text exposition format for the agent's /metrics.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cumulative histogram with fixed upper bounds.
#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: Vec<f64>) -> Self {
        let n = bounds.len();
        Histogram {
            bounds,
            counts: vec![0; n],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

fn exponential(start: f64, factor: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| start * factor.powi(i as i32)).collect()
}

fn linear(start: f64, width: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| start + width * i as f64).collect()
}

/// The proxy's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub sync_duration: Histogram,
    pub full_sync_duration: Histogram,
    pub partial_sync_duration: Histogram,
    pub network_programming: Histogram,
    pub last_sync_timestamp: f64,
    pub last_queued_timestamp: f64,
    pub drift_repairs: u64,
    pub conntrack_flushed: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        // kube-proxy's buckets: 1 ms doubling for syncs; programming
        // latency 0.25 s … 30 min.
        let sync = exponential(0.001, 2.0, 15);
        let mut prog = linear(0.25, 0.25, 2);
        prog.extend(linear(1.0, 1.0, 59));
        prog.extend(linear(60.0, 5.0, 12));
        prog.extend(linear(300.0, 30.0, 7));
        Metrics {
            sync_duration: Histogram::new(sync.clone()),
            full_sync_duration: Histogram::new(sync.clone()),
            partial_sync_duration: Histogram::new(sync),
            network_programming: Histogram::new(prog),
            last_sync_timestamp: 0.0,
            last_queued_timestamp: 0.0,
            drift_repairs: 0,
            conntrack_flushed: 0,
        }
    }
}

pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

impl Metrics {
    /// Record one successful sync that took `took`; `triggers` are the
    /// times of the API changes it programmed (network programming latency).
    pub fn observe_sync(&mut self, full: bool, took: Duration, triggers: &[SystemTime]) {
        let s = took.as_secs_f64();
        self.sync_duration.observe(s);
        if full {
            self.full_sync_duration.observe(s);
        } else {
            self.partial_sync_duration.observe(s);
        }
        let now = SystemTime::now();
        for t in triggers {
            if let Ok(d) = now.duration_since(*t) {
                self.network_programming.observe(d.as_secs_f64());
            }
        }
        self.last_sync_timestamp = unix_seconds(now);
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.sync_duration.render(
            &mut out,
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
        );
        self.full_sync_duration.render(
            &mut out,
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
        );
        self.partial_sync_duration.render(
            &mut out,
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
        );
        self.network_programming.render(
            &mut out,
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
        );
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        gauge(
            &mut out,
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            "gauge",
            self.last_sync_timestamp,
        );
        gauge(
            &mut out,
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued",
            "gauge",
            self.last_queued_timestamp,
        );
        gauge(
            &mut out,
            "labyrinth_proxy_drift_repairs_total",
            "Resyncs that found rules changed behind the proxy's back and rewrote them",
            "counter",
            self.drift_repairs as f64,
        );
        gauge(
            &mut out,
            "labyrinth_proxy_conntrack_entries_flushed_total",
            "UDP conntrack entries deleted because their endpoint went away",
            "counter",
            self.conntrack_flushed as f64,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kube_proxy_names_with_cumulative_buckets() {
        let mut m = Metrics::default();
        m.observe_sync(
            true,
            Duration::from_millis(3),
            &[SystemTime::now() - Duration::from_millis(600)],
        );
        m.observe_sync(false, Duration::from_micros(500), &[]);
        let text = m.render();
        assert!(text.contains("# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram"));
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 2\n"));
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_count 2\n"));
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"} 0\n"));
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_bucket{le=\"1\"} 1\n"));
        assert!(text.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count 1\n"));
        let ts = text
            .lines()
            .find_map(|l| l.strip_prefix("kubeproxy_sync_proxy_rules_last_timestamp_seconds "))
            .unwrap();
        assert!(ts.parse::<f64>().unwrap() > 1.6e9);
    }
}
