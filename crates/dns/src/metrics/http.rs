//! `/metrics` over plain HTTP on its own thread (CoreDNS's `prometheus
//! :9153`), and `/ready` (CoreDNS's `ready` plugin: 200 once synced). One request per connection, answered and closed: a scraper
//! asks every few seconds, so nothing here needs to be fast or concurrent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::counters::Metrics;

/// Binds `addr` and serves `/metrics` from `metrics` until the process
/// ends. Returns the bound address (port 0 picks one).
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding the metrics listener {addr}"))?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("dns-metrics".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = one(conn, &metrics) {
                    tracing::debug!(error = %e, "metrics request");
                }
            }
        })
        .context("starting the metrics thread")?;
    Ok(bound)
}

fn one(mut conn: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    // The request line and headers; a GET has no body to wait for.
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            super::render::text(metrics),
        ),
        ("GET" | "HEAD", "/ready") if metrics.ready() => ("200 OK", "text/plain; charset=utf-8", "OK".into()),
        ("GET" | "HEAD", "/ready") => (
            "503 Service Unavailable",
            "text/plain; charset=utf-8",
            "not synced with the API\n".into(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "404 page not found\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "method not allowed\n".into(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    if method != "HEAD" {
        conn.write_all(body.as_bytes())?;
    }
    Ok(())
}
