//! Benchmark (not a timed test): CNI ADD+DEL latency and 50 concurrent ADDs,
//! labyrinth-cni against the reference ptp + host-local in the same run,
//! reported as JSON with ratios (goal: ours ≤ 0.5× the reference).
//!
//! Run: `cargo test -p labyrinth-cni --release --test bench -- --ignored --nocapture`
//! Both plugins are exec'd exactly as a runtime does (env + stdin), entering
//! the node namespace with setns() before exec so nsenter is not timed.
//!
//! Our DEL returns once the pair is retired (down, renamed, routes gone,
//! address released) and leaves the kernel's unregistration to a detached
//! child (see src/retire.rs). So DEL is reported twice: as the runtime waits
//! for it, and until the pair is gone from the kernel; and each round waits
//! for that before the next call, so our background work never overlaps a
//! measured call of either plugin.

mod common;

use std::time::Instant;

use common::*;
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::Handle;
use serde_json::{json, Value};

const ROUNDS: usize = 40;
const WARMUP: usize = 3;
const CONCURRENT: usize = 50;
/// Pods already on the node in the second series: every ADD reads every
/// reservation (the container's own may be among them), in both plugins.
const FULL: usize = 100;

fn stats(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    json!({ "n": ms.len(), "mean_ms": round(mean), "p50_ms": round(pct(0.5)), "p90_ms": round(pct(0.9)),
            "min_ms": round(ms[0]) })
}

/// Pids of every rig's namespace holders (our own children, not orphans).
static HOLDERS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Our children that are not holders of namespaces: orphans given to us.
fn orphans() -> Vec<i32> {
    let holders = HOLDERS.lock().unwrap().clone();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !holders.contains(pid))
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid …": comm may hold spaces, so after ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(|pp| pp == me))
                .unwrap_or(false)
        })
        .map(|pid| pid as i32)
        .collect()
}

/// Wait (bounded: 10 s) until the orphans of this moment have exited.
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    for pid in orphans() {
        let mut done = false;
        for _ in 0..100_000 {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(std::time::Duration::from_micros(100)),
                _ => {
                    done = true;
                    break;
                }
            }
        }
        assert!(done, "a detached DEL child ({pid}) did not exit within 10 s");
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One plugin's rounds (ms).
#[derive(Default)]
struct Series {
    add: Vec<f64>,
    del: Vec<f64>,
    sum: Vec<f64>,
    gone: Vec<f64>,
    sum_gone: Vec<f64>,
}

impl Series {
    fn push(&mut self, (a, d, g): (f64, f64, f64)) {
        self.add.push(a);
        self.del.push(d);
        self.sum.push(a + d);
        self.gone.push(g);
        self.sum_gone.push(a + g);
    }

    fn json(&self, with_gone: bool) -> Value {
        let mut v = json!({ "add": stats(self.add.clone()), "del": stats(self.del.clone()),
                            "add_plus_del": stats(self.sum.clone()) });
        if with_gone {
            v["del_until_pair_gone"] = stats(self.gone.clone());
            v["add_plus_del_until_pair_gone"] = stats(self.sum_gone.clone());
        }
        v
    }
}

struct Rig {
    plugin: PluginUnderTest,
    node: Holder,
    node_ns: std::fs::File,
    netlink: Handle,
    net: Net,
    pod: Holder,
}

impl Rig {
    fn new(plugin: PluginUnderTest, tag: &str, subnet: &str) -> Rig {
        let node = Holder::node();
        let net = Net::new(tag, subnet);
        plugin.prepare_node(&node, &net);
        let node_ns = std::fs::File::open(node.netns()).unwrap();
        let pod = Holder::pod();
        HOLDERS.lock().unwrap().extend([node.pid(), pod.pid()]);
        let netlink = Handle::in_netns(&NetNs::open(node.netns(), "bench node").unwrap()).unwrap();
        Rig {
            plugin,
            node,
            node_ns,
            netlink,
            net,
            pod,
        }
    }

    /// One ADD then DEL; returns (add ms, del ms, del ms until the pair is
    /// gone from the kernel).
    fn add_del(&mut self, i: usize) -> (f64, f64, f64) {
        let conf = self.plugin.config("1.0.0", &self.net);
        let id = format!("bench{i}");
        let t = Instant::now();
        let res = self.plugin.call_setns(
            &self.node_ns,
            &Call::new("ADD", &id, Some(&self.pod.netns()), "eth0"),
            &conf.to_string(),
        );
        let add = t.elapsed().as_secs_f64() * 1e3;
        let res = res.ok("bench ADD").clone();
        let with = with_prev(&conf, &res).to_string();
        let t = Instant::now();
        let del = self.plugin.call_setns(
            &self.node_ns,
            &Call::new("DEL", &id, Some(&self.pod.netns()), "eth0"),
            &with,
        );
        let del_ms = t.elapsed().as_secs_f64() * 1e3;
        // The name leaves the kernel's list before the unregistration is
        // over; the detached deleter's exit marks the end of it. It is our
        // orphan (we are a subreaper); the reference leaves none.
        reap_orphans();
        let gone_ms = t.elapsed().as_secs_f64() * 1e3;
        let retired_left = |nl: &mut Handle| nl.links().unwrap().iter().any(|l| l.name.starts_with("lxd"));
        if self.plugin.delegated {
            // A thread of this process deletes the pair: wait (bounded) for
            // the name, then as long again as the kernel's wait takes.
            for _ in 0..1000 {
                if !retired_left(&mut self.netlink) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        assert!(!retired_left(&mut self.netlink), "the retired pair was deleted");
        del.ok("bench DEL");
        (add, del_ms, gone_ms)
    }

    /// Reservation files of FULL other pods, as a node with FULL pods holds
    /// them (host-local's layout, which both plugins read); `clear` removes
    /// them again.
    fn fill(&self, clear: bool) {
        let dir = self.net.ipam_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let base: String = self.net.subnet.rsplit_once('.').unwrap().0.into();
        for i in 0..FULL {
            let path = dir.join(format!("{base}.{}", 100 + i));
            if clear {
                std::fs::remove_file(path).unwrap();
            } else {
                std::fs::write(path, format!("{:064x}\r\neth0", i + 1)).unwrap();
            }
        }
    }

    /// Wall time of CONCURRENT parallel ADDs into fresh pods (then DEL all).
    fn concurrent(&self) -> f64 {
        let pods: Vec<Holder> = (0..CONCURRENT).map(|_| Holder::pod()).collect();
        let conf = self.plugin.config("1.0.0", &self.net).to_string();
        let t = Instant::now();
        std::thread::scope(|s| {
            for (i, pod) in pods.iter().enumerate() {
                let conf = &conf;
                s.spawn(move || {
                    let call = Call::new("ADD", &format!("par{i}"), Some(&pod.netns()), "eth0");
                    self.plugin
                        .call_setns(&self.node_ns, &call, conf)
                        .ok("concurrent ADD");
                });
            }
        });
        let wall = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(
            self.net.reservations().len(),
            CONCURRENT,
            "every ADD holds a distinct address"
        );
        std::thread::scope(|s| {
            for (i, pod) in pods.iter().enumerate() {
                let conf = &conf;
                s.spawn(move || {
                    let call = Call::new("DEL", &format!("par{i}"), Some(&pod.netns()), "eth0");
                    self.plugin
                        .call_setns(&self.node_ns, &call, conf)
                        .ok("concurrent DEL");
                });
            }
        });
        assert!(self.net.reservations().is_empty());
        assert_eq!(
            self.node.link_names(),
            vec!["lo"],
            "(after any retired pairs went)"
        );
        wall
    }
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture"]
fn bench_add_del_ours_vs_reference() {
    if skip_unless_root("bench_add_del_ours_vs_reference") {
        return;
    }
    // Orphans (our DEL's detached child) come to us, to be timed and reaped.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut ours = Rig::new(PluginUnderTest::ours(), "bo", "10.80.0.0/24");
    let mut delegated = Rig::new(PluginUnderTest::delegated(), "bd", "10.82.0.0/24");
    let mut reference = Rig::new(PluginUnderTest::reference(), "br", "10.81.0.0/24");
    for i in 0..WARMUP {
        ours.add_del(i);
        delegated.add_del(i);
        reference.add_del(i);
    }
    // Interleaved so machine noise hits all alike.
    let (mut o, mut d, mut r) = (Series::default(), Series::default(), Series::default());
    for i in 0..ROUNDS {
        o.push(ours.add_del(1000 + i));
        d.push(delegated.add_del(1000 + i));
        r.push(reference.add_del(1000 + i));
    }
    let o_conc = ours.concurrent();
    let d_conc = delegated.concurrent();
    let r_conc = reference.concurrent();
    // The same rounds on a node that already runs FULL pods.
    let (mut of, mut df, mut rf) = (Series::default(), Series::default(), Series::default());
    for rig in [&ours, &delegated, &reference] {
        rig.fill(false);
    }
    for i in 0..ROUNDS {
        of.push(ours.add_del(2000 + i));
        df.push(delegated.add_del(2000 + i));
        rf.push(reference.add_del(2000 + i));
    }
    for rig in [&ours, &delegated, &reference] {
        assert_eq!(rig.net.reservations().len(), FULL, "only the filler is left");
        rig.fill(true);
    }
    let p50 = |v: &Value| v["p50_ms"].as_f64().unwrap();
    let rs = stats(r.sum.clone());
    let ratio = |s: &Series| round(p50(&stats(s.sum.clone())) / p50(&rs));
    let report = json!({
        "benchmark": "cni_add_del_latency",
        "rounds": ROUNDS,
        "labyrinth_cni_exec": o.json(true),
        "labyrinth_cni_delegated_to_agent": d.json(false),
        "reference_ptp_host_local": r.json(false),
        "ratio_add_plus_del_p50": ratio(&o),
        "ratio_add_plus_del_p50_delegated": ratio(&d),
        "ratio_add_plus_del_until_pair_gone_p50": round(p50(&stats(o.sum_gone.clone())) / p50(&rs)),
        "goal_ratio_max": 0.5,
        "on_a_node_with_pods": {
            "pods": FULL,
            "labyrinth_cni_exec_add": stats(of.add.clone()),
            "labyrinth_cni_delegated_add": stats(df.add.clone()),
            "reference_add": stats(rf.add.clone()),
            "ratio_add_p50": round(p50(&stats(of.add.clone())) / p50(&stats(rf.add.clone()))),
            "ratio_add_p50_delegated": round(p50(&stats(df.add.clone())) / p50(&stats(rf.add.clone()))),
            "added_by_the_pods_p50_ms": {
                "labyrinth_cni_exec": round(p50(&stats(of.add.clone())) - p50(&stats(o.add.clone()))),
                "labyrinth_cni_delegated": round(p50(&stats(df.add.clone())) - p50(&stats(d.add.clone()))),
                "reference": round(p50(&stats(rf.add.clone())) - p50(&stats(r.add.clone()))),
            },
        },
        "concurrent_adds": {
            "n": CONCURRENT,
            "labyrinth_cni_exec_wall_ms": round(o_conc),
            "labyrinth_cni_delegated_wall_ms": round(d_conc),
            "reference_wall_ms": round(r_conc),
            "ratio_exec": round(o_conc / r_conc),
            "ratio_delegated": round(d_conc / r_conc),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
