//! Issue 4's benchmarks in a real lab (JSON on stdout; not timed tests):
//! apply → Ready for three bursts of 100 pods (p50/p99 per pod and from the
//! apply, measured by a raw watch of the API; medians of the bursts, and
//! how many bursts met issue 16's goals of 200 and 500 ms; and a fourth
//! burst measured by a kubectl watch, for comparison; per burst also
//! the apply command's own time, CPU and major faults (the JSON names the
//! kubectl it runs), the file pages the
//! machine read back after evicting them, and the machine's CPU time from
//! the apply to the last pod Ready, also in units of the machine's speed
//! in the same run: see `in_machine_units`, and split by role: see
//! `common/role_cpu.rs`), the
//! node agents' memory per pod (VmRSS, the figure the goal was set on, and
//! RssAnon, without the binary's shared code pages), and pod-to-pod TCP throughput with iperf3
//! over our tunnel against a hand-built veth + VXLAN path between the same
//! two nodes. Run as root, in release:
//!   cargo test --release -p labyrinth --test bench_pods -- --ignored --nocapture

mod common;
use common::journey::*;
use common::*;

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant};

const PODS: usize = 100;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// RSS of the node's agents in KiB: the kubelet role's and the network
/// DaemonSet pod's together (or the one agent of `--single-agent`).
fn agent_rss_kib(lab: &Lab, node: &str) -> u64 {
    agent_status_kib(lab, node, "VmRSS")
}

/// A field of the node's agents' /proc status, summed (KiB). VmRSS counts
/// the binary's code pages too, faulted in the first time a code path runs
/// and shared by every agent (and left to the page cache); RssAnon is the
/// memory the agents hold themselves.
fn agent_status_kib(lab: &Lab, node: &str, field: &str) -> u64 {
    let out = lab.ssh_ok(
        node,
        &[
            "sh",
            "-c",
            &format!(
                "for p in $(pgrep -f '^[^ ]*labyrinth agent '); do grep '^{field}:' /proc/$p/status; done"
            ),
        ],
    );
    let kib: Vec<u64> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(!kib.is_empty(), "{node}: no agent: {out}");
    kib.iter().sum()
}

/// What one burst measured.
struct Burst {
    /// Each pod's ADDED → Ready=True, sorted (ms).
    ready_ms: Vec<f64>,
    /// The apply → each pod Ready=True, sorted (ms): the stricter reading,
    /// every pod timed from the one moment the user asked for all of them.
    from_apply_ms: Vec<f64>,
    /// Apply → the last pod Ready (s).
    all_s: f64,
    /// First ADDED → last ADDED (ms): how long the controllers took to
    /// create the pods, the part of the burst no pod start can shorten.
    created_over_ms: f64,
    /// The apply command alone, start to exit (ms), and the major page
    /// faults of its processes (`labyrinth kubectl`, the machine's kubectl):
    /// the part of "from the apply" that is the client, and whether its
    /// binaries had to be read from disk again (a cold start).
    apply_ms: f64,
    apply_major_faults: i64,
    /// File pages the whole machine read back after evicting them, apply →
    /// last pod Ready: a machine that pages out what sat idle between
    /// bursts (this VM runs a DAMON `pageout` scheme) reads the code a
    /// burst runs from disk again, inside the burst.
    file_pages_read_back: u64,
    /// CPU time the whole machine spent, apply → last pod Ready (ms, from
    /// /proc/stat's ticks): what the burst cost, which on two cores bounds
    /// how soon the last pod can be Ready, and a steadier reading than the
    /// latencies for comparing two builds.
    machine_cpu_ms: f64,
    /// Of that, each role's long-running processes (`role_cpu`), ms, and
    /// the apply command's own processes (user + system of the waited-for
    /// `labyrinth kubectl` and the kubectl it runs).
    role_cpu_ms: Vec<(&'static str, f64)>,
    apply_command_cpu_ms: f64,
}

/// The machine's count of file pages read back after their eviction.
fn file_refaults() -> u64 {
    let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("workingset_refault_file "))
        .and_then(|n| n.trim().parse().ok())
        .expect("/proc/vmstat has workingset_refault_file")
}

/// The machine's busy CPU time so far (ms): /proc/stat's first line,
/// user, nice, system, irq and softirq (guest time is inside user and
/// nice; steal is the hypervisor's, not the burst's).
fn machine_busy_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .expect("/proc/stat starts with the cpu line")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6].iter().map(|&i| ticks[i]).sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    busy as f64 * 1000.0 / hz as f64
}

/// The program `labyrinth kubectl` runs: the first `kubectl` on PATH,
/// links resolved. Part of "from the apply" is this client, and machines
/// differ: on some it is Google Cloud SDK's dispatcher, which starts,
/// reads the kubeconfig and the server's cached version, then runs the
/// matching `kubectl.1.NN` (~40 ms more per command on this VM).
fn kubectl_on_path() -> String {
    let p = labyrinth_testkit::root::find_on_path("kubectl")
        .expect("a kubectl on PATH (labyrinth kubectl runs it)");
    std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
}

/// This process's waited-for children, all so far.
fn children_usage() -> libc::rusage {
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) }, 0);
    ru
}

/// Major page faults of this process's waited-for children, all so far.
fn children_major_faults() -> i64 {
    children_usage().ru_majflt
}

/// CPU time (user + system) of this process's waited-for children so far, ms.
fn children_cpu_ms() -> f64 {
    let ru = children_usage();
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// Each role's CPU from `before` to `after` (`role_cpu::by_role`), every
/// role present in both: a role missing means the classifier no longer
/// knows the lab's processes, and the split would be wrong.
fn role_deltas(
    before: &std::collections::BTreeMap<&'static str, f64>,
    after: &std::collections::BTreeMap<&'static str, f64>,
) -> Vec<(&'static str, f64)> {
    common::role_cpu::ROLES
        .iter()
        .map(|role| match (before.get(role), after.get(role)) {
            (Some(b), Some(a)) => (*role, a - b),
            (b, a) => panic!("no {role} process found in /proc (before: {b:?}, after: {a:?})"),
        })
        .collect()
}

/// Who watches the pods for the measurement.
#[derive(Clone, Copy, PartialEq)]
enum Watch {
    /// The API's watch stream itself, read by curl inside node-0 and
    /// decoded here: what a controller's watch costs, no more.
    Raw,
    /// `kubectl get pods -w -o jsonpath`: the independent client, but ~60 ms
    /// of CPU per burst of its own (decoding, jsonpath, printing), on the
    /// two cores the burst needs.
    Kubectl,
}

/// Start the watch; its stdout yields one (pod, ready) line per event.
fn start_watch(lab: &Lab, how: Watch) -> std::process::Child {
    let mut cmd = std::process::Command::new(BIN);
    match how {
        Watch::Kubectl => {
            cmd.args(["kubectl", "--name", &lab.name, "-n", "bench", "get", "pods", "-w", "--output-watch-events"])
                .args([
                    "-o",
                    "jsonpath={.type} {.object.metadata.name} {.object.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}",
                ]);
        }
        Watch::Raw => {
            // The admin kubeconfig's CA and token; curl verifies the server.
            let script = "conf=/etc/kubernetes/admin.conf; \
                ca=/tmp/bench-watch-ca.crt; grep certificate-authority-data $conf | awk '{print $2}' | base64 -d > $ca; \
                token=$(grep 'token:' $conf | awk '{print $2}'); \
                server=$(grep 'server:' $conf | awk '{print $2}'); \
                exec curl -sSN --cacert $ca -H \"Authorization: Bearer $token\" \
                  \"$server/api/v1/namespaces/bench/pods?watch=true&sendInitialEvents=true\
&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan\"";
            cmd.args([
                "lab", "ssh", "--name", &lab.name, "node-0", "--", "sh", "-c", script,
            ]);
        }
    }
    cmd.stdout(std::process::Stdio::piped()).spawn().unwrap()
}

/// One watch line as (pod name, Ready=True), or `None` for other lines.
fn parse_event(how: Watch, line: &str) -> Option<(String, bool)> {
    match how {
        Watch::Kubectl => {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 2).then(|| (f[1].to_string(), f.get(2) == Some(&"True")))
        }
        Watch::Raw => {
            let ev: serde_json::Value = serde_json::from_str(line).ok()?;
            let obj = &ev["object"];
            let name = obj["metadata"]["name"].as_str()?.to_string();
            let ready = obj["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            Some((name, ready && ev["type"] != "DELETED"))
        }
    }
}

/// Create a Deployment of `PODS` replicas and time each pod from its ADDED
/// event to Ready=True, as a watching client sees them.
fn apply_to_ready(lab: &Lab, name: &str, how: Watch) -> Burst {
    let mut watch = start_watch(lab, how);
    let mut lines = std::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    if how == Watch::Raw {
        // The clock starts once the watch is open (the server's bookmark
        // that ends its initial events): the watcher's own start (a shell,
        // curl's TLS handshake) is the benchmark's, not the burst's, and
        // must not share the cores with the apply.
        let opened = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("k8s.io/initial-events-end"));
        assert!(opened, "the watch ended before its initial-events bookmark");
    }
    let roles_before = common::role_cpu::by_role();
    let apply_cpu_before = children_cpu_ms();
    let faults_before = children_major_faults();
    let refaults_before = file_refaults();
    let cpu_before = machine_busy_ms();
    let start = Instant::now();
    kubectl_apply(
        lab,
        "bench",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {PODS}\n  \
             selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    \
             spec: {{containers: [{{name: pause, image: registry.k8s.io/pause:3.10}}]}}\n"
        ),
    );
    let apply_ms = start.elapsed().as_secs_f64() * 1000.0;
    let apply_major_faults = children_major_faults() - faults_before;
    let apply_command_cpu_ms = children_cpu_ms() - apply_cpu_before;
    let mut added: HashMap<String, Instant> = HashMap::new();
    let mut ready: Vec<f64> = Vec::new();
    let mut from_apply: Vec<f64> = Vec::new();
    let mut done = std::collections::HashSet::new();
    for line in lines {
        let line = line.unwrap();
        let Some((pod, is_ready)) = parse_event(how, &line) else {
            continue;
        };
        let now = Instant::now();
        let t0 = *added.entry(pod.clone()).or_insert(now);
        if is_ready && done.insert(pod) {
            ready.push((now - t0).as_secs_f64() * 1000.0);
            from_apply.push((now - start).as_secs_f64() * 1000.0);
        }
        if done.len() == PODS || start.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    let all_s = start.elapsed().as_secs_f64();
    let file_pages_read_back = file_refaults() - refaults_before;
    let machine_cpu_ms = machine_busy_ms() - cpu_before;
    let role_cpu_ms = role_deltas(&roles_before, &common::role_cpu::by_role());
    stop(&mut watch);
    assert_eq!(ready.len(), PODS, "not every pod became Ready");
    ready.sort_by(|a, b| a.total_cmp(b));
    from_apply.sort_by(|a, b| a.total_cmp(b));
    let first = added.values().min().unwrap();
    let last = added.values().max().unwrap();
    Burst {
        ready_ms: ready,
        from_apply_ms: from_apply,
        all_s,
        created_over_ms: (*last - *first).as_secs_f64() * 1000.0,
        apply_ms,
        apply_major_faults,
        file_pages_read_back,
        machine_cpu_ms,
        role_cpu_ms,
        apply_command_cpu_ms,
    }
}

/// Scale the fleet to 2 × PODS and wait for it; the agents' RSS then, and
/// their growth per added pod (KiB).
fn marginal_rss(lab: &Lab, nodes: &[&str], at_100: &[u64]) -> (Vec<u64>, f64) {
    let patch = format!("{{\"spec\":{{\"replicas\":{}}}}}", 2 * PODS);
    kubectl_ok(
        lab,
        &[
            "-n",
            "bench",
            "patch",
            "deployment",
            "fleet",
            "--type=merge",
            "-p",
            &patch,
        ],
    );
    let want = (2 * PODS).to_string();
    let mut reached = false;
    for _ in 0..600 {
        let ready = kubectl_ok(
            lab,
            &[
                "-n",
                "bench",
                "get",
                "deployment",
                "fleet",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ],
        );
        if ready.trim() == want {
            reached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(reached, "the fleet never reached {want} ready pods");
    std::thread::sleep(Duration::from_secs(2));
    let at_200: Vec<u64> = nodes.iter().map(|n| agent_rss_kib(lab, n)).collect();
    let growth: f64 = at_200
        .iter()
        .zip(at_100)
        .map(|(a, b)| *a as f64 - *b as f64)
        .sum();
    (at_200, growth / PODS as f64)
}

/// Pod network namespaces on each node (the sandboxes the agents run).
fn sandboxes(lab: &Lab, nodes: &[&str]) -> Vec<usize> {
    nodes
        .iter()
        .map(|n| lab.ssh_ok(n, &["ls", "/run/netns"]).lines().count())
        .collect()
}

/// Delete a Deployment and wait until none of its pods is left: gone from
/// the API and torn down on the nodes (back to `baseline` sandboxes; our
/// API server deletes pods at once, and the agents tear them down after).
fn delete_and_wait(lab: &Lab, name: &str, nodes: &[&str], baseline: &[usize]) {
    kubectl_ok(
        lab,
        &["-n", "bench", "delete", "deployment", name, "--wait=false"],
    );
    for _ in 0..600 {
        let left = kubectl_ok(lab, &["-n", "bench", "get", "pods", "-o", "name"]);
        if left.trim().is_empty() && sandboxes(lab, nodes) == baseline {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the pods of {name} were never all gone");
}

/// One burst's figures, as JSON.
fn burst_json(b: &Burst) -> serde_json::Value {
    serde_json::json!({
        "p50_ms": percentile(&b.ready_ms, 0.5),
        "p99_ms": percentile(&b.ready_ms, 0.99),
        "max_ms": b.ready_ms.last(),
        "from_apply_p50_ms": percentile(&b.from_apply_ms, 0.5),
        "from_apply_p99_ms": percentile(&b.from_apply_ms, 0.99),
        "all_ready_seconds": b.all_s,
        "pods_created_over_ms": b.created_over_ms,
        "apply_command_ms": b.apply_ms,
        "apply_command_major_faults": b.apply_major_faults,
        "machine_file_pages_read_back": b.file_pages_read_back,
        "machine_cpu_ms": b.machine_cpu_ms,
        "apply_command_cpu_ms": b.apply_command_cpu_ms,
        "cpu_by_role_ms": cpu_by_role(b),
    })
}

/// The burst's CPU by role, and the rest of the machine's: processes that
/// ended before the burst did (each CNI plugin run, reaped by the kubelet
/// role), the watch, the kernel's threads and softirqs.
fn cpu_by_role(b: &Burst) -> serde_json::Map<String, serde_json::Value> {
    let mut m: serde_json::Map<String, serde_json::Value> = b
        .role_cpu_ms
        .iter()
        .map(|(r, ms)| (r.to_string(), serde_json::json!(ms)))
        .collect();
    let named: f64 = b.role_cpu_ms.iter().map(|(_, ms)| ms).sum::<f64>() + b.apply_command_cpu_ms;
    m.insert(
        "everything_else".into(),
        serde_json::json!(b.machine_cpu_ms - named),
    );
    m
}

/// How many bench pods each node runs.
fn pods_per_node(lab: &Lab) -> std::collections::BTreeMap<String, usize> {
    let out = kubectl_ok(
        lab,
        &[
            "-n",
            "bench",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ],
    );
    let mut m = std::collections::BTreeMap::new();
    for n in out.split_whitespace() {
        *m.entry(n.to_string()).or_insert(0) += 1;
    }
    m
}

const ROUNDS: usize = 5;

/// A burst's CPU in units of this run's machine speed: the time the
/// hand-built path (no Labyrinth code on it) took to move one gigabyte at
/// its median rate. The same code's CPU per burst rises and falls with
/// the machine's speed through a day (docs/performance.md, "Pod starts"),
/// and this figure lets runs at different speeds be compared.
fn in_machine_units(cpu_ms: f64, hand_built_gbit_s: f64) -> f64 {
    cpu_ms / ms_per_gigabyte(hand_built_gbit_s)
}

/// Milliseconds to move 10^9 bytes (8 Gbit) at `gbit_s`.
fn ms_per_gigabyte(gbit_s: f64) -> f64 {
    8.0 / gbit_s * 1000.0
}

#[test]
fn a_burst_is_measured_in_the_time_the_hand_built_path_moves_a_gigabyte() {
    // At 8 Gbit/s a gigabyte takes one second.
    assert_eq!(ms_per_gigabyte(8.0), 1000.0);
    assert_eq!(in_machine_units(500.0, 8.0), 0.5);
    // A machine twice as fast makes the same CPU twice as many units.
    assert_eq!(in_machine_units(500.0, 16.0), 1.0);
}

#[test]
fn each_process_is_given_its_role_by_its_arguments() {
    use common::role_cpu::role_of;
    let cases: [(&[&str], Option<&str>); 9] = [
        (
            &[
                "/opt/labyrinth/bin/labyrinth",
                "server",
                "--listen",
                "10.168.0.2:6443",
            ],
            Some("apiserver"),
        ),
        (
            &[
                "labyrinth",
                "controllers",
                "--kubeconfig",
                "/etc/kubernetes/admin.conf",
            ],
            Some("controllers"),
        ),
        (
            &["labyrinth", "dns", "--cluster-domain", "cluster.local"],
            Some("dns"),
        ),
        (
            &[
                "/opt/labyrinth/bin/labyrinth",
                "agent",
                "--role",
                "network",
                "--node-name",
                "node-1",
            ],
            Some("network_agents"),
        ),
        (
            &["/usr/local/bin/labyrinth", "agent", "--node-name", "node-1"],
            Some("kubelet_roles"),
        ),
        // A pod's wrapper names its command but is the pause program.
        (
            &[
                "/opt/labyrinth/bin/labyrinth-pause",
                "run",
                "95",
                "95",
                "/run/x",
                "/",
                "all",
                "/opt/labyrinth/bin/labyrinth",
                "agent",
                "--role",
                "network",
            ],
            Some("pause_processes"),
        ),
        (
            &["/opt/labyrinth/bin/labyrinth-crilog", "/var/log/pods/x/0.log"],
            Some("log_writers"),
        ),
        // `network` as a value of another flag is not the network role.
        (
            &["labyrinth", "agent", "--node-name", "network"],
            Some("kubelet_roles"),
        ),
        (&["kubectl", "apply", "-f", "-"], None),
    ];
    for (argv, want) in cases {
        assert_eq!(role_of(argv), want, "{argv:?}");
    }
    assert_eq!(role_of(&[]), None);
    assert_eq!(role_of(&["labyrinth"]), None);
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// iperf3's client and server share one CPU, in both paths: on a VM,
/// waking an idle vCPU costs a hypervisor exit, and unpinned figures swing
/// with the machine's load; on one CPU they measure what each path costs.
const PIN: &str = "taskset -c $(($(nproc) - 1))";

/// iperf3 for 3 s from `client` in node-1 to `server_ip`; Gbit/s.
fn iperf(lab: &Lab, client_cmd: &dyn Fn(&str) -> String, server_ip: &str) -> f64 {
    let out = lab.ssh_ok(
        "node-1",
        &[
            "sh",
            "-c",
            &client_cmd(&format!("{PIN} iperf3 -J -t 3 -c {server_ip}")),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["end"]["sum_received"]["bits_per_second"].as_f64().unwrap() / 1e9
}

/// A hand-built path: a namespace on node-1 and one on node-2, each a veth
/// to its node, a VXLAN device (VNI 99, UDP 4789) between the nodes, routes
/// — what our datapath does, made with `ip` by hand.
fn hand_built(lab: &Lab) {
    for (node, me, peer_node, peer_net) in [("node-1", 1, "10.168.0.4", 2), ("node-2", 2, "10.168.0.3", 1)] {
        let local = if me == 1 { "10.168.0.3" } else { "10.168.0.4" };
        let script = format!(
            "set -e
ip netns add hb
ip link add hbh type veth peer name eth0 netns hb
ip -n hb link set lo up
ip -n hb addr add 10.250.{me}.2/32 dev eth0
ip -n hb link set eth0 mtu 1410 up
ip link set hbh up
ip addr add 10.250.{me}.1/32 dev hbh
ip -n hb route add 10.250.{me}.1 dev eth0 scope link
ip -n hb route add default via 10.250.{me}.1 dev eth0
ip route add 10.250.{me}.2/32 dev hbh
ip link add hbvx type vxlan id 99 local {local} dev ens4 dstport 4789 nolearning
ip link set hbvx mtu 1410 up
ip addr add 10.250.{me}.0/32 dev hbvx
ip route add 10.250.{peer_net}.0/24 via 10.250.{peer_net}.0 dev hbvx onlink
bridge fdb append 00:00:00:00:00:00 dev hbvx dst {peer_node}
"
        );
        lab.ssh_ok(node, &["sh", "-c", &script]);
    }
    // Neighbours of the far gateways: the VXLAN devices' own MACs.
    for (node, peer, peer_net) in [("node-1", "node-2", 2), ("node-2", "node-1", 1)] {
        let mac = lab.ssh_ok(peer, &["cat", "/sys/class/net/hbvx/address"]);
        lab.ssh_ok(
            node,
            &[
                "ip",
                "neigh",
                "replace",
                &format!("10.250.{peer_net}.0"),
                "lladdr",
                mac.trim(),
                "dev",
                "hbvx",
            ],
        );
        let _ = peer;
    }
}

#[test]
#[ignore]
fn bench_pods() {
    if !need_root("bench_pods") {
        return;
    }
    let lab = Lab::cluster("benchpods", &[]);
    // node-0 carries the control-plane taint, so the pods land on the two
    // workers; node-0's agents are still measured (the all_agents figures),
    // while per_pod_kib counts the workers' alone.
    let nodes = ["node-0", "node-1", "node-2"];
    kubectl_ok(&lab, &["create", "namespace", "bench"]);
    let baseline = sandboxes(&lab, &nodes);
    let before: Vec<u64> = nodes.iter().map(|n| agent_rss_kib(&lab, n)).collect();
    let anon = |n: &&str| agent_status_kib(&lab, n, "RssAnon");
    let anon_before: u64 = nodes[1..].iter().map(anon).sum();
    let mut bursts = vec![apply_to_ready(&lab, "fleet", Watch::Raw)];
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<u64> = nodes.iter().map(|n| agent_rss_kib(&lab, n)).collect();
    let anon_after: u64 = nodes[1..].iter().map(anon).sum();
    let anon_per_pod_kib = (anon_after as f64 - anon_before as f64) / PODS as f64;
    let rss_before: u64 = before[1..].iter().sum();
    let rss_after: u64 = after[1..].iter().sum();
    let per_pod_kib = (rss_after as f64 - rss_before as f64) / PODS as f64;
    let all_growth: f64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| *a as f64 - *b as f64)
        .sum();
    let placed = pods_per_node(&lab);
    // The marginal cost: 100 more pods on top of the first 100 (what each
    // added pod costs once the agents' one-time growth — thread pools,
    // connections, the allocator's first high-water mark — is paid).
    let (at_200, marginal) = marginal_rss(&lab, &nodes, &after);
    delete_and_wait(&lab, "fleet", &nodes, &baseline);
    // Two more bursts on the same cluster: one burst's p99 swings with how
    // fast the controllers happened to create its pods (every pod is timed
    // from its own creation), so the median of three is reported.
    for name in ["fleet-2", "fleet-3"] {
        bursts.push(apply_to_ready(&lab, name, Watch::Raw));
        delete_and_wait(&lab, name, &nodes, &baseline);
    }
    // One more, measured by kubectl's watch instead, for comparison.
    let by_kubectl = apply_to_ready(&lab, "fleet-k", Watch::Kubectl);
    delete_and_wait(&lab, "fleet-k", &nodes, &baseline);
    kubectl_ok(&lab, &["delete", "namespace", "bench", "--wait=false"]);
    let med = |f: &dyn Fn(&Burst) -> f64| median(&bursts.iter().map(f).collect::<Vec<_>>());
    let p50 = med(&|b| percentile(&b.ready_ms, 0.5));
    let p99 = med(&|b| percentile(&b.ready_ms, 0.99));
    let from_apply_p99 = med(&|b| percentile(&b.from_apply_ms, 0.99));
    // Burst by burst too: the goals are read on every burst, as a median
    // of three hides one that misses.
    let met = |f: &dyn Fn(&Burst) -> f64, limit: f64| bursts.iter().filter(|b| f(b) <= limit).count();
    let per_pod_met = met(&|b| percentile(&b.ready_ms, 0.99), 200.0);
    let from_apply_met = met(&|b| percentile(&b.from_apply_ms, 0.99), 500.0);

    // Throughput: the journey pods over our tunnel vs the hand-built path.
    let (client, server) = journey_pods(&lab);
    let server_ip = pod_ip(&lab, "wrk-2", &server);
    exec_ok(&lab, "wrk-2", &server, &format!("{PIN} iperf3 -s -D"));
    hand_built(&lab);
    lab.ssh_ok(
        "node-2",
        &["sh", "-c", &format!("ip netns exec hb {PIN} iperf3 -s -D")],
    );
    std::thread::sleep(Duration::from_millis(300));
    // Interleaved rounds, medians: load from elsewhere on the machine hits
    // both paths alike.
    let (mut ours_runs, mut base_runs) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        ours_runs.push(iperf(
            &lab,
            &|cmd| format!("{BIN} runtime exec wrk-1/{client} -- {cmd}"),
            &server_ip,
        ));
        base_runs.push(iperf(
            &lab,
            &|cmd| format!("ip netns exec hb {cmd}"),
            "10.250.2.2",
        ));
    }
    let (ours, baseline) = (median(&ours_runs), median(&base_runs));
    let cpu_in_units: Vec<f64> = bursts
        .iter()
        .map(|b| in_machine_units(b.machine_cpu_ms, baseline))
        .collect();

    let v = serde_json::json!({
        "apply_to_ready": {
            "pods": PODS,
            "apply_command_runs": kubectl_on_path(),
            "bursts": bursts.iter().map(burst_json).collect::<Vec<_>>(),
            "median_p50_ms": p50,
            "median_p99_ms": p99,
            "median_from_apply_p99_ms": from_apply_p99,
            "goal_p99_le_200ms": p99 <= 200.0,
            "goal_from_apply_p99_le_500ms": from_apply_p99 <= 500.0,
            "bursts_meeting_p99_le_200ms": per_pod_met,
            "bursts_meeting_from_apply_p99_le_500ms": from_apply_met,
            "measured_by": "the API's watch stream (curl inside node-0), decoded by the benchmark",
            "one_burst_measured_by_kubectl_watch": burst_json(&by_kubectl),
            "baseline": "the Kubernetes pod startup SLO: p99 <= 5 s (from each pod's creation)",
        },
        "agent_memory": {
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "per_pod_kib": per_pod_kib,
            "goal_le_5_kib": per_pod_kib <= 5.0,
            "anon_before_kib": anon_before,
            "anon_after_kib": anon_after,
            "anon_per_pod_kib": anon_per_pod_kib,
            "pods_per_node": placed,
            "all_agents_rss_before_kib": before,
            "all_agents_rss_after_kib": after,
            "all_agents_per_pod_kib": all_growth / PODS as f64,
            "all_agents_rss_at_200_pods_kib": at_200,
            "all_agents_marginal_kib_per_pod_100_to_200": marginal,
        },
        "machine_speed": {
            "measured_by": "this run's hand-built veth + VXLAN path, no Labyrinth code on it (its median iperf3 rate, below)",
            "ms_to_move_one_gigabyte": ms_per_gigabyte(baseline),
            "burst_machine_cpu_in_those_units": cpu_in_units,
        },
        "throughput": {
            "ours_gbit_s": ours,
            "hand_built_veth_vxlan_gbit_s": baseline,
            "ours_rounds_gbit_s": ours_runs,
            "hand_built_rounds_gbit_s": base_runs,
            "ratio_of_medians": ours / baseline,
            "goal_ge_0_95": ours / baseline >= 0.95,
        },
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert!(ours > 0.0 && baseline > 0.0);
    lab.down();
}

/// Issue 21, acceptance 5: the network role as the DaemonSet against one
/// agent per node, in the same run: three 100-pod bursts each (the median
/// of their p99, apply → Ready per pod) and the agents' RSS per node
/// (kubelet role + network pod together, against the one agent) before
/// and after the first burst. Run as root:
///   cargo test --release -p labyrinth --test bench_pods -- --ignored --nocapture bench_pods_network_daemonset
#[test]
#[ignore]
fn bench_pods_network_daemonset() {
    if !need_root("bench_pods_network_daemonset") {
        return;
    }
    let nodes = ["node-0", "node-1", "node-2"];
    let mut modes = serde_json::Map::new();
    let mut p99s = Vec::new();
    let mut rss = Vec::new();
    for (mode, flags) in [("single_agent", &["--single-agent"][..]), ("daemonset", &[][..])] {
        let lab = Lab::cluster(&format!("bds-{}", &mode[..6]), flags);
        kubectl_ok(&lab, &["create", "namespace", "bench"]);
        let baseline = sandboxes(&lab, &nodes);
        let before: Vec<u64> = nodes.iter().map(|n| agent_rss_kib(&lab, n)).collect();
        let mut bursts = vec![apply_to_ready(&lab, "fleet", Watch::Raw)];
        std::thread::sleep(Duration::from_secs(2));
        let after: Vec<u64> = nodes.iter().map(|n| agent_rss_kib(&lab, n)).collect();
        delete_and_wait(&lab, "fleet", &nodes, &baseline);
        for name in ["fleet-2", "fleet-3"] {
            bursts.push(apply_to_ready(&lab, name, Watch::Raw));
            delete_and_wait(&lab, name, &nodes, &baseline);
        }
        let p99s_of: Vec<f64> = bursts.iter().map(|b| percentile(&b.ready_ms, 0.99)).collect();
        let p99 = median(&p99s_of);
        let per_node_after = after.iter().sum::<u64>() as f64 / nodes.len() as f64;
        p99s.push(p99);
        rss.push(per_node_after);
        modes.insert(
            mode.into(),
            serde_json::json!({
                "burst_p99_ms": p99s_of,
                "median_p99_ms": p99,
                "agents_rss_kib_per_node_before": before,
                "agents_rss_kib_per_node_after_100_pods": after,
                "mean_rss_kib_per_node_after": per_node_after,
            }),
        );
        lab.down();
    }
    let v = serde_json::json!({
        "pods_per_burst": PODS,
        "modes": modes,
        "p99_ratio_daemonset_to_single_agent": p99s[1] / p99s[0],
        "goal_p99_ratio_le_1_1": p99s[1] / p99s[0] <= 1.1,
        "rss_ratio_daemonset_to_single_agent": rss[1] / rss[0],
        "baseline": "one agent per node for both roles (lab up --single-agent), same run",
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert!(p99s.iter().all(|p| *p > 0.0));
}
