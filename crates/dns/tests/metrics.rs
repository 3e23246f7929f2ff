//! `--metrics`: the standalone binary counts what `dig` asks (over UDP and
//! TCP) and `curl` reads CoreDNS's metric names off `/metrics`, with the
//! counts, types and rcodes of exactly those queries.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{dig, FIXTURE};

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address in the stderr line that starts with `prefix`.
fn addr_after(lines: &mut impl Iterator<Item = String>, marker: &str) -> String {
    for line in lines {
        if let Some(rest) = line.split(marker).nth(1) {
            return rest
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap()
                .to_string();
        }
    }
    panic!("no line with {marker:?}");
}

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (body.to_string(), code.to_string())
}

#[test]
fn metrics_count_what_dig_asked() {
    let dir = std::env::temp_dir().join(format!("labyrinth-dns-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("records.yaml");
    std::fs::write(&file, FIXTURE).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_labyrinth-dns"))
        .args([
            "--listen",
            "127.0.53.11:0",
            "--metrics",
            "127.0.53.11:0",
            "--records",
        ])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _guard = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let metrics = addr_after(&mut lines, "metrics on http://");
    let dns: std::net::SocketAddr = addr_after(&mut lines, " on ").parse().unwrap();

    let a = dig(dns, &["kube-dns.kube-system.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    let nx = dig(dns, &["nothing.default.svc.cluster.local", "A"]);
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.raw);
    let srv = dig(
        dns,
        &["+tcp", "_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV"],
    );
    assert_eq!(srv.status, "NOERROR", "{}", srv.raw);
    let cname = dig(dns, &["ext.default.svc.cluster.local", "A"]);
    assert_eq!(
        cname.answer,
        ["ext.default.svc.cluster.local. 5 IN CNAME upstream.example."]
    );

    let (body, code) = curl(&format!("http://{metrics}/metrics"));
    assert_eq!(code, "200", "{body}");
    let server = format!("dns://:{}", 0);
    for want in [
        format!("coredns_dns_requests_total{{server=\"{server}\",zone=\".\",proto=\"udp\",family=\"1\",type=\"A\"}} 3"),
        format!("coredns_dns_requests_total{{server=\"{server}\",zone=\".\",proto=\"tcp\",family=\"1\",type=\"SRV\"}} 1"),
        format!("coredns_dns_responses_total{{server=\"{server}\",zone=\".\",rcode=\"NOERROR\"}} 3"),
        format!("coredns_dns_responses_total{{server=\"{server}\",zone=\".\",rcode=\"NXDOMAIN\"}} 1"),
        format!("coredns_dns_request_duration_seconds_count{{server=\"{server}\",zone=\".\",type=\"A\"}} 3"),
        format!("coredns_dns_request_duration_seconds_bucket{{server=\"{server}\",zone=\".\",type=\"SRV\",le=\"+Inf\"}} 1"),
    ] {
        assert!(body.lines().any(|l| l == want), "{want:?} missing from\n{body}");
    }
    let (_, code) = curl(&format!("http://{metrics}/other"));
    assert_eq!(code, "404");
    let _ = std::fs::remove_dir_all(&dir);
}
