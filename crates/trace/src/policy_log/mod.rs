//! `labyrinth observe` on an iptables or nftables node: the policy drops,
//! live, named. Each drop rule logs the packet to an NFLOG group first
//! (`labyrinth_policy::names::LOG_GROUP`), which this reads in the node's
//! network namespace: netfilter's own log path, no agent or daemon in
//! between, and nothing at all while nobody listens. The log prefix says
//! the direction; the judged pod is the packet's own end (the destination
//! for ingress, the source for egress), and the node's rule set, walked
//! as `explain` walks it, gives its drop rule, whose comment names the pod
//! and the policies that isolate it.

mod drop;

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use labyrinth_netlink::nflog::NflogGroup;
use labyrinth_policy::names::{logged_direction, LOG_GROUP, NFT_TABLE};

pub use drop::PolicyDrop;

/// The node's policy rules as text, read again at most once a second
/// (a drop is judged by the rules of its moment; a flood of drops must not
/// run iptables-save for each).
#[derive(Default)]
struct Rules {
    read_at: Option<Instant>,
    filter: String,
    nft: String,
}

impl Rules {
    fn fresh(&mut self) -> &Rules {
        if self.read_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            let run = |argv: &[&str]| {
                std::process::Command::new(argv[0])
                    .args(&argv[1..])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            };
            self.filter = run(&["iptables-save", "-t", "filter"]);
            self.nft = run(&["nft", "-j", "list", "table", "ip", NFT_TABLE]);
            self.read_at = Some(Instant::now());
        }
        self
    }
}

/// Does this node run the eBPF datapath (its events ring pinned in
/// `pin_dir`)? Its programs report drops themselves, on the ring.
pub fn ebpf_node(pin_dir: &std::path::Path) -> bool {
    pin_dir.join(labyrinth_contracts::bpf::abi::EVENTS_MAP).exists()
}

/// Print the policy drops of this node until `count` drops or `seconds`
/// pass (or ^C); one JSON object a line with `json`.
pub fn observe(json: bool, count: Option<usize>, seconds: Option<u64>) -> Result<()> {
    let mut group = NflogGroup::bind(LOG_GROUP).context("reading the policy drop log")?;
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut rules = Rules::default();
    let (mut seen, mut out) = (0usize, std::io::stdout().lock());
    loop {
        for p in group.recv(Duration::from_millis(200))? {
            let Some(dir) = logged_direction(&p.prefix) else {
                continue;
            };
            let r = rules.fresh();
            let Some(d) = PolicyDrop::of(SystemTime::now(), dir, &p.payload, &r.filter, &r.nft) else {
                continue;
            };
            if json {
                writeln!(out, "{}", serde_json::to_string(&d)?)?;
            } else {
                writeln!(out, "{d}")?;
            }
            out.flush()?;
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}
