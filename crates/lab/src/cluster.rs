//! The cluster on the lab's machines, brought up as kubeadm would: the API
//! server and the controllers on node-0, a bootstrap token, `join` on every
//! node through that token and the CA hash, and a node agent per node.
//!
//! Every step runs *inside* a node (through `lab ssh`), exactly as a person
//! would type it on that VM; services are started detached so that the
//! node's init becomes their parent.
//!
//! The addons (cluster DNS) come after, from `up` (see addons.rs), which
//! runs its commands through this module's helpers.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::config::StoreKind;
use crate::progress::Progress;
use crate::state::LabState;

pub const API_PORT: u16 = 6443;
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
pub const NODE_KUBECONFIG: &str = "/etc/labyrinth/kubelet.kubeconfig";
const APISERVER_DATA: &str = "/var/lib/labyrinth/apiserver";

fn exe() -> Result<String> {
    Ok(std::env::current_exe()?.to_string_lossy().into_owned())
}

/// `labyrinth lab ssh --name LAB NODE -- argv…`
pub fn node_command(lab: &str, node: &str, argv: &[&str]) -> Result<Command> {
    let mut c = Command::new(exe()?);
    c.args(["lab", "ssh", "--name", lab, node, "--"]).args(argv);
    c.stdin(Stdio::null());
    Ok(c)
}

fn run_in(lab: &str, node: &str, argv: &[&str]) -> Result<Output> {
    let out = node_command(lab, node, argv)?.output()?;
    if !out.status.success() {
        bail!(
            "{node}: `{}` failed: {}{}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(out)
}

/// Start a long-running service inside a node, logging to
/// /var/log/labyrinth/<name>.log there.
pub fn start_service(lab: &str, node: &str, name: &str, argv: &[&str]) -> Result<()> {
    // Where `lab logs` reads it (logs.rs owns the directory).
    let logs = crate::logs::NODE_LOG_DIR;
    let script = format!("mkdir -p {logs} && exec \"$0\" \"$@\" >>{logs}/{name}.log 2>&1");
    // Under the node's service manager (supervise.rs), which starts it
    // again when it exits, as systemd does the kubelet.
    let exe = exe()?;
    let mut full = vec![
        "setsid",
        "-f",
        "sh",
        "-c",
        &script,
        &exe,
        "lab",
        "_supervise",
        name,
        "--",
    ];
    full.extend_from_slice(argv);
    run_in(lab, node, &full).with_context(|| format!("starting {name} on {node}"))?;
    Ok(())
}

pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !ok() {
        if Instant::now() > deadline {
            bail!("timed out after {}s waiting for {what}", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub fn start(state: &LabState, progress: &Progress) -> Result<()> {
    let cfg = &state.config;
    let lab = cfg.name.as_str();
    let exe = exe()?;
    let cp = &state.nodes[0].plan;
    let listen = format!("{}:{API_PORT}", cp.address);

    let service_cidr = cfg.service_cidr.to_string();
    let mut apiserver = vec![
        exe.as_str(),
        "server",
        "--listen",
        &listen,
        "--service-cidr",
        &service_cidr,
        "--cluster-domain",
        &cfg.cluster_domain,
    ];
    let etcd_url = crate::etcd::client_url();
    if cfg.store == StoreKind::Etcd {
        progress.step(&format!("{}: etcd", cp.name));
        let argv = crate::etcd::argv(&cp.name, cp.address);
        start_service(
            lab,
            &cp.name,
            crate::etcd::SERVICE,
            &argv.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
        let health = crate::etcd::health_argv();
        let health: Vec<&str> = health.iter().map(String::as_str).collect();
        wait_for("etcd", Duration::from_secs(60), || {
            run_in(lab, &cp.name, &health).is_ok()
        })?;
        apiserver.extend(["--store", "etcd", "--etcd-servers", &etcd_url]);
    }
    progress.step(&format!("{}: API server on {listen}", cp.name));
    start_service(lab, &cp.name, "apiserver", &apiserver)?;
    let admin = format!("{APISERVER_DATA}/admin.kubeconfig");
    wait_for("the API server", Duration::from_secs(60), || {
        run_in(lab, &cp.name, &["test", "-s", &admin]).is_ok()
            && run_in(
                lab,
                &cp.name,
                &["kubectl", "--kubeconfig", &admin, "get", "--raw", "/readyz"],
            )
            .is_ok()
    })?;
    // kubectl on the control node works as after `kubeadm init`.
    run_in(
        lab,
        &cp.name,
        &["sh", "-c", &format!("mkdir -p /etc/kubernetes /root/.kube && cp {admin} {ADMIN_KUBECONFIG} && cp {admin} /root/.kube/config")],
    )?;

    // And on the host, for `labyrinth kubectl` (which runs the machine's
    // kubectl in the caller's directory): the lab's run directory, 0600.
    let admin_conf = run_in(lab, &cp.name, &["cat", ADMIN_KUBECONFIG])?.stdout;
    let copy = crate::state::LabDir::new(lab).kubeconfig_path();
    labyrinth_contracts::files::write_private(&copy, &admin_conf)
        .context("keeping the lab's admin kubeconfig")?;

    let join =
        String::from_utf8(run_in(lab, &cp.name, &[&exe, "token", "create", "--print-join-command"])?.stdout)?;
    let mut join_argv: Vec<String> = join.split_whitespace().map(String::from).collect();
    if join_argv.first().map(String::as_str) != Some("labyrinth") {
        bail!("unexpected join command: {join}");
    }
    join_argv[0] = exe.clone();

    // Join and start the agents on every node in parallel.
    let routing = cfg.routing.to_string();
    let datapath = cfg.datapath.to_string();
    let pod_cidr = cfg.pod_cidr.to_string();
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for node in &state.nodes {
            let (join_argv, exe, routing, datapath, pod_cidr, service_cidr) =
                (&join_argv, &exe, &routing, &datapath, &pod_cidr, &service_cidr);
            handles.push(s.spawn(move || -> Result<()> {
                let plan = &node.plan;
                let mut j: Vec<&str> = join_argv.iter().map(String::as_str).collect();
                j.extend(["--node-name", &plan.name, "--kubeconfig", NODE_KUBECONFIG]);
                run_in(lab, &plan.name, &j)?;
                let ip = plan.address.to_string();
                let mut a = vec![
                    exe.as_str(),
                    "agent",
                    "--node-name",
                    &plan.name,
                    "--node-ip",
                    &ip,
                    "--kubeconfig",
                    NODE_KUBECONFIG,
                    "--routing",
                    routing,
                    "--datapath",
                    datapath,
                    "--cluster-cidr",
                    pod_cidr,
                    "--service-cidr",
                    service_cidr,
                ];
                if plan.control_plane {
                    a.push("--control-plane");
                }
                if cfg.peer_redirect {
                    a.push("--peer-redirect");
                }
                start_service(lab, &plan.name, "agent", &a)
            }));
        }
        for h in handles {
            h.join().expect("join thread panicked")?;
        }
        Ok(())
    })?;
    for node in &state.nodes {
        progress.step(&format!("{}: joined, agent started", node.plan.name));
    }
    progress.step(&format!("{}: controllers", cp.name));
    let cidr = cfg.pod_cidr.to_string();
    let mut argv = vec![
        exe.clone(),
        "controllers".into(),
        "--kubeconfig".into(),
        ADMIN_KUBECONFIG.into(),
    ];
    argv.extend(["--cluster-cidr".into(), cidr]);
    if let Some(pool) = crate::lb_pool::effective(cfg.load_balancer_pool, cfg.underlay_cidr, cfg.workers) {
        argv.extend(["--load-balancer-pool".into(), pool.to_string()]);
    }
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    start_service(lab, &cp.name, "controllers", &argv)?;

    progress.step("waiting for every node to be Ready");
    let want = state.nodes.len();
    wait_for("all nodes Ready", Duration::from_secs(120), || {
        let Ok(out) = run_in(
            lab,
            &cp.name,
            &[
                "kubectl",
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ],
        ) else {
            return false;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().filter(|l| l.trim() == "True").count() == want
    })?;
    Ok(())
}
