//! CoreDNS's Prometheus metrics, under CoreDNS's names, so the dashboards
//! and queries written for it read this server too:
//!
//! - `coredns_dns_requests_total{server,zone,proto,family,type}`
//! - `coredns_dns_responses_total{server,zone,rcode}`
//! - `coredns_dns_request_duration_seconds{server,zone,type}` (histogram,
//!   CoreDNS's buckets: 0.25 ms doubling to 8.192 s)
//!
//! [`Metrics`] (counters.rs) is a set of fixed atomic counters indexed by
//! small enums (the serving threads never lock or allocate to count);
//! render.rs writes them as Prometheus text and [`http`] serves that on
//! `/metrics` (CoreDNS's `prometheus :9153`).

mod counters;
pub mod http;
mod qtype;
mod render;

pub use counters::{Metrics, Proto};
pub use qtype::{question_type, QTYPES};
pub use render::text as render;

#[cfg(test)]
mod tests;
