//! `agnhost connect HOST:PORT`: one connection attempt, reported as the
//! upstream tool does: nothing and status 0 on success; on failure one of
//! `TIMEOUT`, `REFUSED`, `DNS: …`, `OTHER: …` on stderr and status 1.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use anyhow::Result;

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// HOST:PORT.
    pub dest: String,
    /// Give up after this long (Go duration: 5s, 500ms; 0 = the system's).
    #[arg(long, default_value = "0")]
    pub timeout: String,
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// What a UDP attempt sends (an answer is then required).
    #[arg(long, default_value = "hostname")]
    pub data: String,
}

pub fn run(a: &ConnectArgs) -> Result<i32> {
    let timeout = super::parse_duration(&a.timeout)?;
    Ok(match attempt(a, timeout) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    })
}

fn attempt(a: &ConnectArgs, timeout: Duration) -> Result<(), String> {
    let addr: SocketAddr = match a.dest.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("DNS: no address for {}", a.dest))?,
        Err(e) => return Err(format!("DNS: {e}")),
    };
    let classify = |e: std::io::Error| match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "TIMEOUT".to_string(),
        ErrorKind::ConnectionRefused => "REFUSED".to_string(),
        _ => format!("OTHER: {e}"),
    };
    match a.protocol.as_str() {
        "tcp" => {
            let r = if timeout.is_zero() {
                TcpStream::connect(addr)
            } else {
                TcpStream::connect_timeout(&addr, timeout)
            };
            r.map(drop).map_err(classify)
        }
        "udp" => {
            let local: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
                .parse()
                .unwrap();
            let s = UdpSocket::bind(local).map_err(|e| format!("OTHER: {e}"))?;
            s.connect(addr).map_err(|e| format!("OTHER: {e}"))?;
            if !timeout.is_zero() {
                s.set_read_timeout(Some(timeout))
                    .map_err(|e| format!("OTHER: {e}"))?;
            }
            s.send(format!("{}\n", a.data).as_bytes()).map_err(classify)?;
            let mut buf = [0u8; 1024];
            s.recv(&mut buf).map(drop).map_err(classify)
        }
        p => Err(format!("OTHER: unsupported protocol {p:?} (tcp or udp)")),
    }
}
