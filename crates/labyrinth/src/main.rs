//! `labyrinth`: one binary, one subcommand per role of the cluster (as k3s).

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "labyrinth",
    version,
    about = "Kubernetes pod networking from scratch, on one machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The lab: a VPC and its nodes as namespaces (up, down, status, ls, ssh).
    Lab(labyrinth_lab::cli::LabArgs),
    /// The node's container runtime by hand, like crictl (inside a node).
    Runtime(labyrinth_agent::cli::RuntimeArgs),
    /// The pod sandbox process (the pause container's role).
    #[command(name = "_pause", hide = true)]
    Pause(labyrinth_agent::runtime::pause::PauseArgs),
}

fn main() {
    // No threads may start before a `lab _sandbox` or `lab ssh` has done its
    // namespace work: both need a single-threaded process.
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Lab(args) => labyrinth_lab::cli::run(args),
        Cmd::Runtime(args) => labyrinth_agent::cli::run(args),
        Cmd::Pause(args) => labyrinth_agent::runtime::pause::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labyrinth: {e:#}");
            std::process::exit(1);
        }
    }
}
