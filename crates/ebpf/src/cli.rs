//! `labyrinth bpf map get <map>` and `labyrinth observe`, run inside a node
//! (its bpffs holds the pinned maps).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use labyrinth_contracts::bpf::MapKind;

use crate::datapath::DEFAULT_PIN_DIR;
use crate::dump::dump;
use crate::events::EventReader;
use crate::policy_names::PolicyNames;

#[derive(Debug, clap::Args)]
pub struct BpfArgs {
    #[command(subcommand)]
    pub cmd: BpfCmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum BpfCmd {
    /// The eBPF datapath's maps.
    Map {
        #[command(subcommand)]
        cmd: MapCmd,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum MapCmd {
    /// Print one map's entries, like `cilium map get` (`--json`: its typed
    /// rows).
    Get {
        /// Which map.
        #[arg(value_enum)]
        map: MapKind,
        /// Print the typed rows as JSON.
        #[arg(long)]
        json: bool,
        /// Where the datapath pins its maps (bpffs).
        #[arg(long, env = "LABYRINTH_BPF_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
}

pub fn run_bpf(args: BpfArgs) -> Result<()> {
    let BpfCmd::Map {
        cmd: MapCmd::Get { map, json, pin_dir },
    } = args.cmd;
    let table = dump(&pin_dir, map)?;
    if json {
        println!("{}", table.to_json());
    } else {
        print!("{}", table.to_text());
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ObserveArgs {
    /// Where the datapath pins its maps (bpffs).
    #[arg(long, env = "LABYRINTH_BPF_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many flows.
    #[arg(long)]
    pub count: Option<usize>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// Print flows as the programs report them, until count/seconds (or ^C).
pub fn run_observe(args: ObserveArgs) -> Result<()> {
    let mut reader = EventReader::open(&args.pin_dir)?;
    let deadline = args.seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut seen = 0usize;
    let mut out = std::io::stdout().lock();
    let mut names = PolicyNames::default();
    loop {
        for mut flow in reader.poll(Duration::from_millis(200))? {
            names.name(&mut flow);
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&flow)?)?;
            } else {
                writeln!(out, "{flow}")?;
            }
            seen += 1;
            if args.count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
        out.flush()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}
