use super::*;
use std::time::Duration;

/// A query for `name` of type `t` (no compression, one question).
fn query(name: &str, t: u16) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.trim_end_matches('.').split('.') {
        p.push(l.len() as u8);
        p.extend_from_slice(l.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&t.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    p
}

#[test]
fn types_rcodes_and_histogram_in_the_text() {
    assert_eq!(QTYPES[question_type(&query("a.b.svc.cluster.local", 28))], "AAAA");
    assert_eq!(QTYPES[question_type(&query("x", 99))], "other");
    assert_eq!(QTYPES[question_type(&[0; 5])], "other");
    let m = Metrics::new("0.0.0.0:53".parse().unwrap());
    let a = question_type(&query("kubernetes.default.svc.cluster.local", 1));
    m.request(Proto::Udp, false, a);
    m.request(Proto::Udp, false, a);
    m.request(Proto::Tcp, true, a);
    // rcode 3 (NXDOMAIN) in the second flags byte's low bits.
    m.response(&[0, 0, 0x81, 0x83], a, Duration::from_micros(300));
    m.response(&[0, 0, 0x81, 0x80], a, Duration::from_secs(20));
    let t = render(&m);
    for want in [
        "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",proto=\"udp\",family=\"1\",type=\"A\"} 2\n",
        "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",proto=\"tcp\",family=\"2\",type=\"A\"} 1\n",
        "coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",rcode=\"NXDOMAIN\"} 1\n",
        "coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",rcode=\"NOERROR\"} 1\n",
        "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\".\",type=\"A\",le=\"0.00025\"} 0\n",
        "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\".\",type=\"A\",le=\"0.0005\"} 1\n",
        "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\".\",type=\"A\",le=\"8.192\"} 1\n",
        "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\".\",type=\"A\",le=\"+Inf\"} 2\n",
        "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",zone=\".\",type=\"A\"} 2\n",
        "# TYPE coredns_dns_request_duration_seconds histogram\n",
    ] {
        assert!(t.contains(want), "{want:?} missing from\n{t}");
    }
    assert!(!t.contains("type=\"AAAA\""), "untouched series are left out");
}

/// The status line `/ready` answers with.
fn ready_status(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or_default().to_string()
}

#[test]
fn ready_answers_503_until_synced_and_again_once_stopping() {
    let m = Metrics::new("0.0.0.0:53".parse().unwrap());
    let addr = super::http::serve("127.0.0.1:0".parse().unwrap(), m.clone()).unwrap();
    assert_eq!(ready_status(addr), "HTTP/1.1 503 Service Unavailable");
    m.set_ready(true);
    assert_eq!(ready_status(addr), "HTTP/1.1 200 OK");
    m.set_ready(false);
    assert_eq!(ready_status(addr), "HTTP/1.1 503 Service Unavailable");
}
