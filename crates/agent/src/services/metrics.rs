//! kube-proxy's metrics endpoint: `GET /metrics` in the Prometheus text
//! format, served by one thread. It answers one scrape at a time, which is
//! all a metrics endpoint sees; a web framework would be dead weight here.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use labyrinth_proxy::metrics::Metrics;

pub fn serve(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>) -> Result<()> {
    let listener = TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("proxy-metrics".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = answer(conn, &metrics) {
                    tracing::debug!("metrics request: {e}");
                }
            }
        })?;
    Ok(())
}

fn answer(conn: TcpStream, metrics: &Mutex<Metrics>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&conn);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Drain the headers so the client sees a clean close.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/metrics" => ("200 OK", metrics.lock().expect("metrics lock").render()),
        "/healthz" | "/livez" => ("200 OK", "ok\n".to_string()),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let mut conn = &conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
