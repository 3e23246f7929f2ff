//! `labyrinth policy …`: NetworkPolicy questions answered from the API's
//! objects by `labyrinth-policy`, the evaluator the agents compile their
//! datapath rules from, so the answer is what every datapath enforces.
//! - `check --from NS/POD --to NS/POD --port N [--protocol P]`: the verdict
//!   on a new connection and its reason (the allowing policy, rule and
//!   peer, or the isolating policies and that no rule allows it);
//! - `check --matrix [-n NS,…] --port N,… [--protocol P,…]`: every pod to
//!   every pod of those namespaces at once, as upstream's truth tables.

mod check;
mod fetch;

pub use fetch::cluster;

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The lab.
    #[arg(long, global = true, env = "LABYRINTH_LAB", default_value = labyrinth_lab::cli::DEFAULT_LAB)]
    pub name: String,
    #[command(subcommand)]
    pub cmd: PolicyCmd,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// The verdict on a new connection (or every pair with --matrix), with its reason.
    Check(check::CheckArgs),
}

pub fn run(args: PolicyArgs) -> Result<i32> {
    match args.cmd {
        PolicyCmd::Check(c) => check::run(&args.name, c),
    }
}
