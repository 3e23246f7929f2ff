//! `labyrinth trace [--name LAB] FROM TO:PORT [--udp] [--send TEXT |
//! --observe SECONDS] [--pcap FILE] [--html FILE] [--json]`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::explain::default_annotators;
use crate::model::Request;
use crate::run::{parse_target, trace, Action, Options};

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Make the source pod send this line (the default: "hello").
    #[arg(long, conflicts_with = "observe")]
    pub send: Option<String>,
    /// Send nothing; capture for this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub observe: Option<f64>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Which flow: the lab, the source pod and the destination (shared with
/// `explain`).
#[derive(Debug, Args)]
pub struct FlowArgs {
    /// The lab.
    #[arg(long, env = "LABYRINTH_LAB", default_value = labyrinth_lab::cli::DEFAULT_LAB)]
    pub name: String,
    /// The source pod, NAMESPACE/POD (`explain` also takes `client`: the
    /// host outside the cluster on the VPC, to a NodePort).
    pub from: String,
    /// Destination IP or name (resolved by the source pod) and port.
    #[arg(value_name = "TO:PORT")]
    pub to: String,
    /// UDP instead of TCP.
    #[arg(long)]
    pub udp: bool,
}

/// Where a trace goes besides the listing (shared with `journey`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write every capture point into one pcapng file (opens in Wireshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write an HTML page with the diagram of the path.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print JSON instead of the listing.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Write the pcapng and HTML files asked for (creating their folders).
    pub fn write_files(&self, trace: &crate::model::Trace) -> Result<()> {
        for path in self.pcap.iter().chain(self.html.iter()) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        if let Some(path) = &self.pcap {
            crate::present::pcapng::write_file(trace, path)?;
        }
        if let Some(path) = &self.html {
            crate::present::html::write_file(trace, path)?;
        }
        Ok(())
    }
}

/// Exit status: with `--send`, 0 only if the sender succeeded.
pub fn run(args: TraceArgs) -> Result<i32> {
    let (to, port) = parse_target(&args.flow.to)?;
    let action = match (args.send, args.observe) {
        (_, Some(s)) if !(s > 0.0 && s <= 3600.0) => {
            bail!("--observe {s}: expected a number of seconds from 0 to 3600")
        }
        (_, Some(s)) => Action::Observe(Duration::from_secs_f64(s)),
        (text, None) => Action::Send(text.unwrap_or_else(|| "hello".into())),
    };
    let opts = Options {
        lab: args.flow.name,
        request: Request {
            from: args.flow.from,
            to,
            port,
            udp: args.flow.udp,
        },
        action,
        exe: std::env::current_exe().context("finding our executable")?,
    };
    let mut annotators = default_annotators();
    // The policy verdict at the hop where a lost packet was dropped.
    annotators.push(Box::new(crate::predict::policy_hop::PolicyHop));
    let out = trace(&opts, &mut annotators)?;
    args.out.write_files(&out.trace)?;
    if args.out.json {
        println!("{}", crate::present::json::render(&out.trace)?);
    } else {
        print!("{}", crate::present::text::render(&out.trace));
    }
    Ok(match out.sent {
        Some(s) if !s.ok => {
            eprintln!("the sender in {} failed: {}", opts.request.from, s.output.trim());
            1
        }
        _ => 0,
    })
}
