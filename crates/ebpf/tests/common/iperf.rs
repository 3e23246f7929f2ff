//! iperf3 between two scratch namespaces: the independent tool for TCP
//! throughput, the same for every datapath under comparison.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::Netns;

const PORT: u16 = 5301;

/// Bits per second received by an iperf3 server in `server` from a
/// `secs`-long single-stream client in `client` towards `ip`.
pub fn gbit_s(client: &Netns, server: &Netns, ip: std::net::Ipv4Addr, secs: u32) -> f64 {
    // One-off server: it exits after its one test, so nothing outlives us.
    let mut srv = Command::new("nsenter")
        .arg(format!("--net={}", server.path()))
        .args(["iperf3", "-s", "-1", "-p", &PORT.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting iperf3 -s (scripts/install-deps.sh installs iperf3)");
    let cmd = format!("iperf3 -J -c {ip} -p {PORT} -t {secs}");
    let mut out = String::new();
    for _ in 0..50 {
        // iperf3 3.12 may exit 0 with {"error": …} in its JSON.
        let (ok, text) = client.try_sh(&cmd);
        out = text;
        if ok && !out.contains("\"error\"") {
            break;
        }
        // The server may not be listening yet.
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = srv.kill();
    let _ = srv.wait();
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("iperf3 gave no JSON ({e}): {out}"));
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no sum_received in {out}"))
        / 1e9
}
