//! `agnhost serve-hostname`: the hostname to every TCP connection, UDP
//! datagram or HTTP request on `--port` (9376).

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::ArgAction;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeHostnameArgs {
    /// Serve raw TCP (`--tcp` or `--tcp=true`).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub tcp: bool,
    /// Serve UDP.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub udp: bool,
    /// Serve HTTP (on by default; `--http=false` with `--tcp`).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub http: bool,
    /// Close a TCP connection or HTTP request after answering.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub close: bool,
    #[arg(long, default_value_t = 9376)]
    pub port: u16,
}

pub fn run(a: &ServeHostnameArgs) -> Result<i32> {
    if a.tcp && a.http {
        bail!(
            "--tcp and --http both serve TCP on port {}: pass --http=false with --tcp",
            a.port
        );
    }
    if !(a.tcp || a.udp || a.http) {
        bail!("nothing to serve: pass --tcp, --udp or --http");
    }
    let name = super::hostname()?;
    let at = std::net::SocketAddr::from(([0, 0, 0, 0], a.port));
    let mut threads = Vec::new();
    if a.udp {
        let sock = UdpSocket::bind(at).with_context(|| format!("listening on udp {at}"))?;
        let name = name.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((_, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(name.as_bytes(), from);
            }
        }));
    }
    if a.tcp {
        let l = TcpListener::bind(at).with_context(|| format!("listening on tcp {at}"))?;
        let name = name.clone();
        threads.push(std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { continue };
                let _ = s.write_all(name.as_bytes());
            }
        }));
    }
    if a.http {
        let l = TcpListener::bind(at).with_context(|| format!("listening on tcp {at}"))?;
        let name = name.clone();
        threads.push(std::thread::spawn(move || {
            super::http::serve(
                l,
                Arc::new(move |_| (200, "text/plain; charset=utf-8", name.clone())),
            )
        }));
    }
    eprintln!(
        "Serving {name:?} on port {} (tcp: {}, udp: {}, http: {})",
        a.port, a.tcp, a.udp, a.http
    );
    for t in threads {
        let _ = t.join();
    }
    Ok(1)
}
