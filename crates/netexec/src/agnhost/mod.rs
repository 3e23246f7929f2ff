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
pub mod shared;

use anyhow::{Context, Result};

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
