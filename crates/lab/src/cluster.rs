//! The cluster on the lab's machines, brought up as kubeadm would: the
//! control plane (etcd when chosen, the API server, the controller manager,
//! the scheduler) as static pods of node-0's agent (`crate::manifests`), a
//! bootstrap token, `join` on every node through that token and the CA
//! hash, which starts each worker's agent (with `manualJoin`, only node-0
//! joins: the workers are left for a person). With several control planes
//! node-0 uploads the shared certificates (`init phase upload-certs`) and
//! the others join with the printed `join --control-plane
//! --certificate-key` command, one after the other.
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
use labyrinth_contracts::cluster_config::ClusterConfiguration;
use labyrinth_contracts::network_daemonset;
use labyrinth_contracts::node_taints;

use crate::config::{NodePlan, StoreKind};
use crate::manifests;
use crate::progress::Progress;
use crate::state::LabState;

pub const API_PORT: u16 = 6443;
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
/// Inside a control node (its own /root, a per-node overlay): where kubeadm
/// tells the admin to copy admin.conf, so kubectl there works unconfigured.
pub const ROOT_KUBECONFIG_DIR: &str = "/root/.kube";
pub const ROOT_KUBECONFIG: &str = "/root/.kube/config";
pub const NODE_KUBECONFIG: &str = "/etc/labyrinth/kubelet.kubeconfig";
pub const APISERVER_DATA: &str = "/var/lib/labyrinth/apiserver";
/// With several control planes, each node's controller manager and
/// scheduler reach their own node's API server through these (kubeadm's
/// names), as kubeadm points them at the local advertise address.
pub const CONTROLLER_MANAGER_CONF: &str = "/etc/kubernetes/controller-manager.conf";
pub const SCHEDULER_CONF: &str = "/etc/kubernetes/scheduler.conf";

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

/// The machines `up` joins: all of them, or with `manualJoin` only node-0
/// (a person joins the rest, other control planes included).
pub fn joined_by_up(state: &LabState) -> Vec<&crate::state::NodeState> {
    let manual = state.config.manual_join;
    state
        .nodes
        .iter()
        .filter(|n| n.plan.index == 0 || !manual)
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
        network_daemonset: cfg.network_daemon_set,
        allowed_unsafe_sysctls: cfg.allowed_unsafe_sysctls.clone(),
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

/// Start the cluster; returns the API endpoint on the host's loopback.
pub fn start(state: &LabState, progress: &Progress) -> Result<std::net::SocketAddr> {
    let cfg = &state.config;
    let lab = cfg.name.as_str();
    let exe = exe()?;
    let cps: Vec<&NodePlan> = state
        .nodes
        .iter()
        .map(|n| &n.plan)
        .filter(|p| p.control_plane)
        .collect();
    let cp = cps[0];
    // As `kubeadm init`: node-0 alone first (a one-member etcd); the other
    // control planes join it afterwards with `join --control-plane`.
    let members: [crate::etcd::Member<'_>; 1] = [(cp.name.as_str(), cp.address)];
    // With several control planes, each API server listens on every
    // address of its node (the control-plane address comes and goes on
    // it) and tells clients the control-plane address, which its
    // certificate names; on loopback it is reached by its own node.
    let vip = cfg.control_plane_address();
    let service_cidr = cfg.service_cidr.to_string();
    let advertise = vip.map(|v| format!("{v}:{API_PORT}"));
    let listen = match vip {
        Some(_) => format!("0.0.0.0:{API_PORT}"),
        None => format!("{}:{API_PORT}", cp.address),
    };
    let etcd_servers = (cfg.store == StoreKind::Etcd).then(|| crate::etcd::client_urls(&members, &cp.name));
    let apiserver_argv = manifests::apiserver_command(
        &exe,
        &listen,
        &service_cidr,
        &cfg.cluster_domain,
        advertise.as_deref(),
        etcd_servers.as_deref(),
    );
    // The manifests first, then the kubelet, which runs them with no API
    // server to ask.
    if cfg.store == StoreKind::Etcd {
        progress.step(&format!("{}: etcd (static pod)", cp.name));
        let argv = crate::etcd::argv(&cp.name, cp.address, &members);
        write_manifest(lab, &cp.name, &manifests::etcd(argv))?;
    }
    write_manifest(
        lab,
        &cp.name,
        &manifests::apiserver(apiserver_argv, APISERVER_DATA),
    )?;
    progress.step(&format!("{}: kubelet, API server (static pod)", cp.name));
    start_control_node_agent(state, cp, &exe)?;
    if cfg.store == StoreKind::Etcd {
        let health = crate::etcd::health_argv();
        let health: Vec<&str> = health.iter().map(String::as_str).collect();
        wait_for("etcd", Duration::from_secs(90), || {
            run_in(lab, &cp.name, &health).is_ok()
        })?;
    }
    wait_for_apiserver(lab, &cp.name, vip.is_some())?;
    // kubectl on the control node works as after `kubeadm init`.
    install_admin_conf(lab, &cp.name)?;

    // And on the host, for the host's own clients: the lab's run
    // directory, 0600, naming the API endpoint on the host's loopback
    // (`crate::api_endpoint`), never the lab's own address, which only
    // the lab's namespaces reach.
    let dir = crate::state::LabDir::new(lab);
    let vpc = state.vpc.context("the lab has no VPC")?;
    let target = std::net::SocketAddr::from((vip.unwrap_or(cp.address), API_PORT));
    let endpoint = crate::api_endpoint::start(&vpc, target, &dir)?;
    progress.step(&format!("{lab}: API endpoint https://{endpoint} on the host"));
    let admin_conf = run_in(lab, &cp.name, &["cat", ADMIN_KUBECONFIG])?.stdout;
    let host_conf = crate::api_endpoint::host_kubeconfig(&admin_conf, endpoint)?;
    labyrinth_contracts::files::write_private(&dir.kubeconfig_path(), &host_conf)
        .context("keeping the lab's admin kubeconfig")?;

    if let Some(address) = vip {
        progress.step(&format!(
            "{}: control-plane address {address} (kube-vip static pod)",
            cp.name
        ));
        write_manifest(lab, &cp.name, &manifests::vip(&exe, ADMIN_KUBECONFIG, address))?;
        wait_for(
            &format!("the control-plane address {address}"),
            Duration::from_secs(60),
            || run_in(lab, &cp.name, &["kubectl", "get", "--raw", "/readyz"]).is_ok(),
        )?;
    }

    // The controller manager and the scheduler, once their kubeconfig is
    // there (the kubelet picks up new manifests within a second). With
    // several control planes each node runs both, talking to its own API
    // server as kubeadm's do, and a Lease picks which copy works.
    let mut extra = vec!["--cluster-cidr".to_string(), cfg.pod_cidr.to_string()];
    if let Some(pool) = crate::lb_pool::effective(
        cfg.load_balancer_pool,
        cfg.underlay_cidr,
        cfg.addresses_above_node0(),
    ) {
        extra.extend(["--load-balancer-pool".into(), pool.to_string()]);
    }
    progress.step(&format!(
        "{}: controller manager, scheduler (static pods)",
        cp.name
    ));
    let (cm_conf, sched_conf) = match vip {
        Some(_) => {
            for conf in [CONTROLLER_MANAGER_CONF, SCHEDULER_CONF] {
                local_kubeconfig(lab, &cp.name, conf)?;
            }
            (CONTROLLER_MANAGER_CONF, SCHEDULER_CONF)
        }
        None => (ADMIN_KUBECONFIG, ADMIN_KUBECONFIG),
    };
    for c in manifests::controller_pair(&exe, cm_conf, sched_conf, vip.is_some(), &extra) {
        write_manifest(lab, &cp.name, &c)?;
    }
    // The settings every agent starts with, published as kubeadm uploads
    // its configuration, so `join` on any node (by hand or here) starts
    // that node's agent alike; with the network as a DaemonSet, published
    // with the manifest a real cluster gets (`labyrinth install`).
    let published = if cfg.network_daemon_set {
        network_daemonset::render_yaml(&network_daemonset::Settings {
            agent: agent_config(cfg),
            api_host: vip.unwrap_or(cp.address).to_string(),
            api_port: API_PORT,
            vni: labyrinth_contracts::node::DEFAULT_VNI,
        })
    } else {
        serde_json::to_string(&agent_config(cfg).config_map())?
    };
    // And the cluster's own configuration (kubeadm's `kubeadm-config`),
    // which `join --control-plane` reads.
    let cluster = ClusterConfiguration {
        store: cfg.store,
        etcd_endpoints: match cfg.store {
            StoreKind::Etcd => vec![crate::etcd::client_url_of(cp.address)],
            StoreKind::Embedded => Vec::new(),
        },
        control_plane_endpoint: advertise.clone(),
        service_subnet: cfg.service_cidr,
        dns_domain: cfg.cluster_domain.clone(),
        controller_manager_extra_args: extra.clone(),
    };
    for (what, body) in [
        ("the agents' settings", published),
        (
            "kubeadm-config",
            cluster.published().map(|o| o.to_string()).join("\n---\n"),
        ),
    ] {
        run_in(
            lab,
            &cp.name,
            &[
                "sh",
                "-c",
                "printf %s \"$1\" | kubectl apply -f - >/dev/null",
                "sh",
                &body,
            ],
        )
        .with_context(|| format!("publishing {what}"))?;
    }

    let join =
        String::from_utf8(run_in(lab, &cp.name, &[&exe, "token", "create", "--print-join-command"])?.stdout)?;
    let join_argv = join_words(&join, &exe)?;

    // The other control planes, as kubeadm's HA guide: the certificates
    // uploaded under a key, then the printed control-plane join command
    // on each, one after the other (each adds its etcd member, which must
    // run before the next is added).
    if cps.len() > 1 && !cfg.manual_join {
        let uploaded = run_in(
            lab,
            &cp.name,
            &[&exe, "init", "phase", "upload-certs", "--upload-certs"],
        )?;
        let text = String::from_utf8(uploaded.stdout)?;
        let key = text.lines().last().unwrap_or("").trim().to_string();
        let cp_join = String::from_utf8(
            run_in(
                lab,
                &cp.name,
                &[
                    &exe,
                    "token",
                    "create",
                    "--print-join-command",
                    "--certificate-key",
                    &key,
                ],
            )?
            .stdout,
        )?;
        let cp_join = join_words(&cp_join, &exe)?;
        for plan in &cps[1..] {
            progress.step(&format!(
                "{}: join --control-plane (certificates, etcd member, static pods)",
                plan.name
            ));
            let mut j: Vec<&str> = cp_join.iter().map(String::as_str).collect();
            let zone = zone_label(plan);
            j.extend([
                "--node-name",
                &plan.name,
                "--kubeconfig",
                NODE_KUBECONFIG,
                "--node-label",
                &zone,
            ]);
            run_in(lab, &plan.name, &j)?;
        }
    }

    let joining: Vec<_> = joined_by_up(state)
        .into_iter()
        .filter(|n| !n.plan.control_plane || n.plan.name == cp.name)
        .collect();
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for node in &joining {
            let join_argv = &join_argv;
            handles.push(s.spawn(move || -> Result<()> {
                let plan = &node.plan;
                let mut j: Vec<&str> = join_argv.iter().map(String::as_str).collect();
                j.extend(["--node-name", &plan.name, "--kubeconfig", NODE_KUBECONFIG]);
                let zone = zone_label(plan);
                j.extend(["--node-label", &zone]);
                if plan.control_plane {
                    j.extend(["--control-plane", "--no-agent"]);
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

    // Ready, and the node lifecycle controller has taken its not-ready
    // taint off: until then the scheduler places nothing there, and a pod
    // applied right after `up` waited (or a check of the nodes' taints, as
    // the HA test makes, saw one still there).
    progress.step("waiting for every joined node to be Ready");
    let want = joined_by_up(state).len();
    wait_for("all nodes Ready and untainted", Duration::from_secs(120), || {
        let Ok(out) = run_in(
            lab,
            &cp.name,
            &[
                "kubectl",
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints[*].key}{\"\\n\"}{end}",
            ],
        ) else {
            return false;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let ready = |l: &str| {
            let mut words = l.split_whitespace();
            let status = words.next().unwrap_or("");
            node_taints::ready_and_untainted(status, &words.collect::<Vec<_>>())
        };
        text.lines().filter(|l| ready(l)).count() == want
    })?;
    Ok(endpoint)
}

/// The words of a printed join command, to run with this program.
fn join_words(printed: &str, exe: &str) -> Result<Vec<String>> {
    let mut words: Vec<String> = printed.split_whitespace().map(String::from).collect();
    if words.first().map(String::as_str) != Some("labyrinth") {
        bail!("unexpected join command: {printed}");
    }
    words[0] = exe.to_string();
    Ok(words)
}

/// Each node's zone label (contracts::topology::lab_zone: two nodes a zone).
fn zone_label(plan: &crate::config::NodePlan) -> String {
    format!(
        "{}={}",
        labyrinth_contracts::topology::ZONE_LABEL,
        labyrinth_contracts::topology::lab_zone(plan.index)
    )
}

/// Wait for the API server on `node` to answer /readyz, on loopback with
/// several control planes (its kubeconfig names the control-plane address,
/// which nobody holds yet), on the node's address otherwise.
fn wait_for_apiserver(lab: &str, node: &str, on_loopback: bool) -> Result<()> {
    let admin = format!("{APISERVER_DATA}/admin.kubeconfig");
    let local = format!("--server=https://127.0.0.1:{API_PORT}");
    let mut argv = vec!["kubectl", "--kubeconfig", &admin];
    if on_loopback {
        argv.push(&local);
    }
    argv.extend(["get", "--raw", "/readyz"]);
    wait_for(
        &format!("the API server on {node}"),
        Duration::from_secs(90),
        || run_in(lab, node, &["test", "-s", &admin]).is_ok() && run_in(lab, node, &argv).is_ok(),
    )
}

/// The API server's admin kubeconfig as /etc/kubernetes/admin.conf and
/// root's kubectl config on `node`, as `kubeadm init` leaves them.
fn install_admin_conf(lab: &str, node: &str) -> Result<()> {
    let admin = format!("{APISERVER_DATA}/admin.kubeconfig");
    run_in(
        lab,
        node,
        &["sh", "-c", &format!("mkdir -p /etc/kubernetes {ROOT_KUBECONFIG_DIR} && cp {admin} {ADMIN_KUBECONFIG} && cp {admin} {ROOT_KUBECONFIG}")],
    )?;
    Ok(())
}

/// `conf` on `node`: the admin credentials, to this node's own API server.
fn local_kubeconfig(lab: &str, node: &str, conf: &str) -> Result<()> {
    run_in(lab, node, &["cp", ADMIN_KUBECONFIG, conf])?;
    let server = format!("--server=https://127.0.0.1:{API_PORT}");
    run_in(
        lab,
        node,
        &[
            "kubectl",
            "config",
            "--kubeconfig",
            conf,
            "set-cluster",
            "labyrinth",
            &server,
        ],
    )
    .with_context(|| format!("pointing {conf} on {node} at its own API server"))?;
    Ok(())
}

/// Write a component's manifest into node-0's manifest folder, whole (a
/// hidden temporary file renamed into place: the kubelet skips hidden
/// files, so it never reads half a manifest).
fn write_manifest(lab: &str, node: &str, c: &manifests::Component) -> Result<()> {
    let dir = manifests::MANIFEST_DIR;
    let file = c.file();
    let script =
        format!("mkdir -p {dir} && printf %s \"$1\" >{dir}/.{file} && mv {dir}/.{file} {dir}/{file}");
    run_in(lab, node, &["sh", "-c", &script, "sh", &c.yaml()])
        .with_context(|| format!("writing {dir}/{file} on {node}"))?;
    Ok(())
}

/// node-0's agent, started as kubeadm's init starts the kubelet: before
/// the node has joined, with the manifest folder, so it runs the control
/// plane first and registers its node once `join` wrote its kubeconfig.
/// Its settings are the ones `join` would read from the published
/// ConfigMap (the same `agent_config`).
fn start_control_node_agent(state: &LabState, cp: &NodePlan, exe: &str) -> Result<()> {
    let ip = cp.address.to_string();
    let zone = zone_label(cp);
    let flags = agent_config(&state.config).kubelet_flags();
    let mut argv = vec![
        exe,
        "agent",
        "--node-name",
        &cp.name,
        "--node-ip",
        &ip,
        "--kubeconfig",
        NODE_KUBECONFIG,
        "--pod-manifest-path",
        manifests::MANIFEST_DIR,
        "--control-plane",
        "--node-label",
        &zone,
    ];
    argv.extend(flags.iter().map(String::as_str));
    start_service(&state.config.name, &cp.name, "agent", &argv)
}
