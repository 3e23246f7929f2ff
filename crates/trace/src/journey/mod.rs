//! `labyrinth journey`: the reference journey (docs/mission.md) in one command. It
//! brings up a lab (or uses a running one), applies the journey manifests,
//! listens with `nc -l 0.0.0.0 9999` in the wrk-2 pod, sends a line from the
//! wrk-1 pod to `node-wrk-2-ubuntu24.wrk-2:9999` while capturing every hop,
//! and presents the journey: the search-path DNS, the ClusterIP, the rule
//! that translated it, the tunnel, the delivery to the listening process.

mod setup;

use anyhow::{Context, Result};
use clap::Args;
use labyrinth_contracts::modes::{Datapath, Routing};
use labyrinth_contracts::store::StoreKind;

use crate::explain::default_annotators;
use crate::model::Request;
use crate::run::{trace, Action, Options};
use setup::Labyrinth;

/// The Service name the client dials, as in docs/mission.md.
pub const TARGET: &str = "node-wrk-2-ubuntu24.wrk-2";
pub const PORT: u16 = 9999;

#[derive(Debug, Args)]
pub struct JourneyArgs {
    /// Use this lab if it is running (it is then kept); otherwise a lab of
    /// this name is brought up for the journey.
    #[arg(long, env = "LABYRINTH_LAB", default_value = "journey")]
    pub name: String,
    /// The datapath of the lab it brings up (iptables by default); with a
    /// running lab, left out or the same as that lab's (else an error).
    #[arg(long, value_enum)]
    pub datapath: Option<Datapath>,
    /// The routing of the lab it brings up (tunnel by default); with a
    /// running lab, left out or the same as that lab's (else an error).
    #[arg(long, value_enum)]
    pub routing: Option<Routing>,
    /// Where the API server of the lab it brings up keeps objects (embedded
    /// by default, or etcd in node-0); with a running lab, left out or the
    /// same as that lab's (else an error).
    #[arg(long, value_enum)]
    pub store: Option<StoreKind>,
    #[command(flatten)]
    pub out: crate::cli::OutputArgs,
    /// Leave the lab running afterwards.
    #[arg(long)]
    pub keep: bool,
    /// The line to send.
    #[arg(long, default_value = "hello from wrk-1")]
    pub text: String,
}

/// Exit status 0 only if the line arrived in the wrk-2 pod.
pub fn run(args: JourneyArgs) -> Result<i32> {
    let l = Labyrinth {
        exe: std::env::current_exe().context("finding our executable")?,
        lab: args.name.clone(),
    };
    let existing = l.running();
    if existing {
        let (datapath, routing) = l.modes_match(args.datapath, args.routing, args.store)?;
        eprintln!(
            "journey: using the running lab {} (datapath {datapath}, routing {routing})",
            l.lab
        );
    } else {
        l.up(
            args.datapath.unwrap_or(Datapath::Iptables),
            args.routing.unwrap_or(Routing::Tunnel),
            args.store.unwrap_or_default(),
        )?;
    }
    let result = journey(&l, &args);
    if !existing && !args.keep {
        if let Err(e) = l.down() {
            eprintln!("journey: taking the lab down: {e:#}");
        }
    } else {
        eprintln!("journey: lab {} kept (labyrinth lab down --name {0})", l.lab);
    }
    result
}

fn journey(l: &Labyrinth, args: &JourneyArgs) -> Result<i32> {
    let (client, server) = setup::apply(l).context("applying the journey manifests")?;
    let listener = setup::listen(l, &server)?;
    let opts = Options {
        lab: l.lab.clone(),
        request: Request {
            from: format!("wrk-1/{client}"),
            to: TARGET.into(),
            port: PORT,
            udp: false,
        },
        action: Action::Send(args.text.clone()),
        exe: l.exe.clone(),
    };
    let mut annotators = default_annotators();
    let out = trace(&opts, &mut annotators)?;
    let got = setup::received(listener);
    args.out.write_files(&out.trace)?;
    let arrived = got == args.text;
    if args.out.json {
        let mut v: serde_json::Value = serde_json::from_str(&crate::present::json::render(&out.trace)?)?;
        v["journey"] = serde_json::json!({
            "client": format!("wrk-1/{client}"),
            "server": format!("wrk-2/{server}"),
            "sent": args.text,
            "received": got,
            "arrived": arrived,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crate::present::text::render(&out.trace));
        println!();
        if arrived {
            println!(
                "The line {:?} arrived: `nc -l 0.0.0.0 9999` in wrk-2/{server} printed it.",
                args.text
            );
        } else {
            println!("The line did NOT arrive in wrk-2/{server} (received {got:?}); the notes above say where it was last seen.");
        }
    }
    Ok(if arrived { 0 } else { 1 })
}
