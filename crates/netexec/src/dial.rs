//! `netexec dial`: many new flows to one address, each from a new socket
//! and a source port no earlier try used (so every try is a new flow for
//! conntrack and for the Service's backend choice), counting who answered.

use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use socket2::{Domain, Socket, Type};

use crate::tally::{Outcome, Report, Tally};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DialArgs {
    /// Where to: HOST:PORT, HOST a name (resolved once, through the pod's
    /// resolver) or an address.
    #[arg(long)]
    pub target: String,
    /// TCP connections or UDP datagrams.
    #[arg(long, value_enum, default_value = "tcp")]
    pub protocol: Protocol,
    /// How many new flows.
    #[arg(long, default_value_t = 1)]
    pub tries: u64,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// How many backends the Service has, for the chi-square test (those
    /// that never answered count as zero); default: those that answered.
    #[arg(long)]
    pub backends: Option<usize>,
    /// Every try from this local port instead of a new one each: for TCP a
    /// closed connection's port reused at once (does the datapath still
    /// pick a backend anew?); for UDP all tries are one flow.
    #[arg(long)]
    pub source_port: Option<u16>,
}

/// The bytes a UDP try sends (the server ignores them).
const QUESTION: &[u8] = b"hostname?\n";
/// The longest answer read (a hostname is at most 64 bytes).
const MAX_ANSWER: usize = 512;

pub fn run(a: &DialArgs) -> Result<i32> {
    let report = dial(a)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.answers.is_empty() { 1 } else { 0 })
}

/// Check the arguments, resolve the target, make the tries.
pub fn dial(a: &DialArgs) -> Result<Report> {
    let timeout = timeout_of(a.timeout)?;
    if a.tries == 0 {
        bail!("--tries must be at least 1");
    }
    if a.backends == Some(0) {
        bail!("--backends must be at least 1");
    }
    let addr = resolve(&a.target)?;
    let mut tally = Tally::default();
    for _ in 0..a.tries {
        let (port, outcome) = match a.protocol {
            Protocol::Tcp => try_tcp(addr, timeout, &tally, a.source_port),
            Protocol::Udp => try_udp(addr, timeout, &tally, a.source_port),
        };
        tally.record(port, outcome);
    }
    let proto = match a.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    Ok(tally.report(addr.to_string(), proto, a.backends))
}

pub fn timeout_of(secs: f64) -> Result<Duration> {
    if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
        bail!("--timeout {secs}: want seconds, more than 0 and at most 3600");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn resolve(target: &str) -> Result<SocketAddr> {
    if target
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        bail!("--target {target:?}: want HOST:PORT");
    }
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .with_context(|| format!("--target {target}: resolving"))?
        .collect();
    // IPv4 first: the cluster's Services are IPv4.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("--target {target}: no address"))
}

/// One TCP connection from a source port no earlier try used (connect()
/// alone may hand out a port again once its connection is closed, which a
/// datapath may take for the old flow; so bind first and check), or from
/// `--source-port`, then closed with a RST so the port is free at once.
fn try_tcp(addr: SocketAddr, timeout: Duration, seen: &Tally, fixed: Option<u16>) -> (Option<u16>, Outcome) {
    let bound = bind_source(seen, fixed, |port| {
        let s = Socket::new(
            Domain::for_address(addr),
            Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        s.set_reuse_address(fixed.is_some())?;
        s.bind(&any_of(addr, port).into())?;
        let port = s.local_addr()?.as_socket().map_or(0, |a| a.port());
        Ok((s, port))
    });
    let (sock, port) = match bound {
        Ok(b) => b,
        Err(e) => return (None, Err(e)),
    };
    let outcome = (|| {
        sock.connect_timeout(&addr.into(), timeout)?;
        sock.set_read_timeout(Some(timeout))?;
        let answer = read_answer(&sock);
        if fixed.is_some() {
            sock.set_linger(Some(Duration::ZERO))?;
        }
        answer
    })();
    (Some(port), outcome)
}

/// A socket from `bind`: on `fixed`, or on a port (0: the kernel's pick)
/// no earlier try had.
fn bind_source<S>(
    seen: &Tally,
    fixed: Option<u16>,
    bind: impl Fn(u16) -> io::Result<(S, u16)>,
) -> io::Result<(S, u16)> {
    if let Some(port) = fixed {
        return bind(port);
    }
    for _ in 0..1000 {
        let (s, port) = bind(0)?;
        if !seen.port_used(port) {
            return Ok((s, port));
        }
    }
    Err(io::Error::other("no unused source port"))
}

fn any_of(addr: SocketAddr, port: u16) -> SocketAddr {
    if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, port).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, port).into()
    }
}

fn read_answer(stream: impl Read) -> Outcome {
    let mut buf = Vec::new();
    stream.take(MAX_ANSWER as u64).read_to_end(&mut buf)?;
    answer_of(&buf)
}

/// One UDP exchange from a new socket on a port no earlier try had
/// (bind(0) picks at random, so repeats happen; a repeat would be the same
/// conntrack flow), or from `--source-port` (all tries one flow).
fn try_udp(addr: SocketAddr, timeout: Duration, seen: &Tally, fixed: Option<u16>) -> (Option<u16>, Outcome) {
    let bound = bind_source(seen, fixed, |port| {
        let s = UdpSocket::bind(any_of(addr, port))?;
        let port = s.local_addr()?.port();
        Ok((s, port))
    });
    let (sock, port) = match bound {
        Ok(b) => b,
        Err(e) => return (None, Err(e)),
    };
    let outcome = (|| {
        sock.connect(addr)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.send(QUESTION)?;
        let mut buf = [0u8; MAX_ANSWER];
        let n = sock.recv(&mut buf)?;
        answer_of(&buf[..n])
    })();
    (Some(port), outcome)
}

/// The answer is the server's hostname, one line.
pub fn answer_of(bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(target: &str) -> DialArgs {
        DialArgs {
            target: target.into(),
            protocol: Protocol::Tcp,
            tries: 1,
            timeout: 1.0,
            backends: None,
            source_port: None,
        }
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        for (a, want) in [
            (args("10.96.0.1"), "--target"),
            (args(":80"), "--target"),
            (args("host:http"), "--target"),
            (
                DialArgs {
                    tries: 0,
                    ..args("127.0.0.1:1")
                },
                "--tries",
            ),
            (
                DialArgs {
                    timeout: 0.0,
                    ..args("127.0.0.1:1")
                },
                "--timeout",
            ),
            (
                DialArgs {
                    timeout: f64::NAN,
                    ..args("127.0.0.1:1")
                },
                "--timeout",
            ),
            (
                DialArgs {
                    backends: Some(0),
                    ..args("127.0.0.1:1")
                },
                "--backends",
            ),
        ] {
            let e = format!("{:#}", dial(&a).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn the_answer_is_the_first_line() {
        assert_eq!(answer_of(b"pod-a\n").unwrap(), "pod-a");
        assert_eq!(answer_of(b"  pod-b \r\nmore").unwrap(), "pod-b");
        assert_eq!(answer_of(b"\n").unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
