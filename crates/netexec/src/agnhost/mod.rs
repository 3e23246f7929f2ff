//! `labyrinth agnhost`: the subcommands of the Kubernetes e2e image
//! `registry.k8s.io/e2e-test-images/agnhost` that its network tests use,
//! with the same flags, answers and exit codes, so manifests written for
//! that image run unchanged (the image catalog starts `/agnhost`, a link to
//! our binary, which answers to that name).

pub mod connect;
pub mod http;
pub mod netexec;
pub mod porter;
pub mod serve_hostname;

use std::time::Duration;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// Answer with the hostname over TCP, UDP and/or HTTP on one port.
    ServeHostname(serve_hostname::ServeHostnameArgs),
    /// HTTP (and UDP) test server: /hostname /clientip /echo /dial /shell /exit.
    Netexec(netexec::NetexecArgs),
    /// Connect to HOST:PORT once; silent on success, else TIMEOUT, REFUSED,
    /// DNS: … or OTHER: … on stderr and status 1.
    Connect(connect::ConnectArgs),
    /// Serve each `SERVE_PORT_<N>=<text>` of the environment: text on port N.
    Porter,
    /// Wait until SIGTERM or SIGINT.
    Pause,
}

pub fn run(a: Args) -> Result<i32> {
    match a.cmd {
        Cmd::ServeHostname(s) => serve_hostname::run(&s),
        Cmd::Netexec(n) => netexec::run(&n),
        Cmd::Connect(c) => connect::run(&c),
        Cmd::Porter => porter::run(),
        Cmd::Pause => pause(),
    }
}

fn pause() -> Result<i32> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().context("blocking signals")?;
    eprintln!("Paused");
    let sig = set.wait().context("waiting for a signal")?;
    eprintln!("Shutting down after receiving signal: {sig:?}");
    Ok(0)
}

/// This machine's hostname (the pod's name in a pod).
pub fn hostname() -> Result<String> {
    Ok(nix::unistd::gethostname()
        .context("reading the hostname")?
        .to_string_lossy()
        .into_owned())
}

/// A Go duration as the upstream flags take it: "5s", "500ms", "1m30s", "0".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .with_context(|| format!("duration {s:?}: missing unit (ns, us, ms, s, m, h)"))?;
        let n: f64 = rest[..n_end]
            .parse()
            .with_context(|| format!("duration {s:?}: bad number"))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => bail!("duration {s:?}: unknown unit {u:?}"),
        };
        rest = &rest[u_end..];
        total += Duration::from_secs_f64(n * unit);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(format!("{:#}", parse_duration("5").unwrap_err()).contains("missing unit"));
        assert!(format!("{:#}", parse_duration("5x").unwrap_err()).contains("unknown unit"));
    }
}
