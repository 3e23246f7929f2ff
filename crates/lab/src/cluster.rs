//! The cluster on the lab's machines, brought up as kubeadm would: the API
//! server and the controllers on node-0, a bootstrap token, `join` on every
//! node through that token and the CA hash, which starts the node's agent
//! (with `manualJoin`, only on node-0: the workers are left for a person).
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
use labyrinth_contracts::agent_config::AgentConfig;

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
/// /var/log/labyrinth/<name>.log there, under the node's service manager
/// (supervise.rs), which starts it again when it exits, as systemd does the
/// kubelet.
pub fn start_service(lab: &str, node: &str, name: &str, argv: &[&str]) -> Result<()> {
    let full = crate::supervise::service_command(name, argv)?;
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    run_in(lab, node, &full).with_context(|| format!("starting {name} on {node}"))?;
    Ok(())
}

/// The machines `up` joins: all of them, or with `manualJoin` only the
/// control plane (a person joins the rest).
pub fn joined_by_up(state: &LabState) -> Vec<&crate::state::NodeState> {
    let manual = state.config.manual_join;
    state
        .nodes
        .iter()
        .filter(|n| n.plan.control_plane || !manual)
        .collect()
}

/// What every node's agent is started with (the lab file's modes and ranges).
pub fn agent_config(cfg: &crate::config::LabConfig) -> AgentConfig {
    AgentConfig {
        routing: cfg.routing,
        datapath: cfg.datapath,
        cluster_cidr: cfg.pod_cidr,
        service_cidr: cfg.service_cidr,
        cluster_dns: cfg.dns_ip(),
        cluster_domain: cfg.cluster_domain.clone(),
        peer_redirect: cfg.peer_redirect,
    }
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

    // The settings every agent starts with, published as kubeadm uploads
    // its configuration, so `join` on any node (by hand or here) starts
    // that node's agent alike.
    let published = serde_json::to_string(&agent_config(cfg).config_map())?;
    run_in(
        lab,
        &cp.name,
        &[
            "sh",
            "-c",
            "printf %s \"$1\" | kubectl apply -f - >/dev/null",
            "sh",
            &published,
        ],
    )
    .context("publishing the agents' settings")?;

    let join =
        String::from_utf8(run_in(lab, &cp.name, &[&exe, "token", "create", "--print-join-command"])?.stdout)?;
    let mut join_argv: Vec<String> = join.split_whitespace().map(String::from).collect();
    if join_argv.first().map(String::as_str) != Some("labyrinth") {
        bail!("unexpected join command: {join}");
    }
    join_argv[0] = exe.clone();

    // Join every node in parallel (only the control plane with
    // --manual-join: the workers wait for a person to type the command);
    // `join` starts each node's agent.
    let joining = joined_by_up(state);
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for node in &joining {
            let join_argv = &join_argv;
            handles.push(s.spawn(move || -> Result<()> {
                let plan = &node.plan;
                let mut j: Vec<&str> = join_argv.iter().map(String::as_str).collect();
                j.extend(["--node-name", &plan.name, "--kubeconfig", NODE_KUBECONFIG]);
                // Each node's zone (contracts::topology::lab_zone: two nodes a zone).
                let zone = format!(
                    "{}={}",
                    labyrinth_contracts::topology::ZONE_LABEL,
                    labyrinth_contracts::topology::lab_zone(plan.index)
                );
                j.extend(["--node-label", &zone]);
                if plan.control_plane {
                    j.push("--control-plane");
                }
                run_in(lab, &plan.name, &j)?;
                Ok(())
            }));
        }
        for h in handles {
            h.join().expect("join thread panicked")?;
        }
        Ok(())
    })?;
    for node in &joining {
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

    progress.step("waiting for every joined node to be Ready");
    let want = joining.len();
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
