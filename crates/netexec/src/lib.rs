//! `labyrinth netexec`: a test workload for pods, in the one binary, in the
//! spirit of the Kubernetes e2e image's serve-hostname and dial:
//!
//! - [`serve`]: answer every TCP connection and UDP datagram with the pod's
//!   hostname;
//! - [`dial`]: N new flows to HOST:PORT, counting who answered (JSON);
//! - [`tally`]: the counts and the report;
//! - [`chisquare`]: Pearson's test of the counts against an even spread.
//!
//! "Does my Service balance?": run `serve` in the backends and `dial` in a
//! client pod against the ClusterIP.

pub mod agnhost;
pub mod chisquare;
pub mod dial;
pub mod serve;
pub mod tally;

use anyhow::Result;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Cmd {
    /// Answer every TCP connection and UDP datagram with the hostname.
    Serve(serve::ServeArgs),
    /// New flows to HOST:PORT; print as JSON who answered how often.
    Dial(dial::DialArgs),
}

/// Run the subcommand; returns the exit status.
pub fn run(a: Args) -> Result<i32> {
    match a.cmd {
        Cmd::Serve(s) => serve::run(&s),
        Cmd::Dial(d) => dial::run(&d),
    }
}
