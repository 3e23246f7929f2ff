//! `labyrinth policy …`: NetworkPolicy questions answered from the API's
//! objects by `labyrinth-policy`, the evaluator the agents compile their
//! datapath rules from, so the answer is what every datapath enforces.
//! - `check --from NS/POD --to NS/POD --port N [--protocol P]`: the verdict
//!   on a new connection and its reason (the allowing policy, rule and
//!   peer, or the isolating policies and that no rule allows it);
//! - `check --matrix [-n NS,…] --port N,… [--protocol P,…]`: every pod to
//!   every pod of those namespaces at once, as upstream's truth tables;
//!   with `--programmed`, each cell judged by the rules the nodes hold, as
//!   `explain` walks them (one read of each node's state for all cells);
//! - `show [-n NS] [POD]`: the policies selecting a pod, its isolation per
//!   direction and its compiled allows.

mod check;
mod fetch;
mod show;

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
    /// The policies selecting a pod (or every pod of -n NS), its isolation per direction and what is allowed.
    Show(show::ShowArgs),
}

pub fn run(args: PolicyArgs) -> Result<i32> {
    match args.cmd {
        PolicyCmd::Check(c) => check::run(&args.name, c),
        PolicyCmd::Show(s) => show::run(&args.name, s),
    }
}
