//! `labyrinth join … --control-plane --certificate-key KEY`: another
//! control plane with stacked etcd, as kubeadm's HA join makes one.
//!
//! 1. Preflight, changing nothing: this node has not joined and holds no
//!    control plane; the cluster's store is etcd (kubeadm-config); the
//!    Secret kube-system/kubeadm-certs is there, unexpired, and the key
//!    opens it (`labyrinth_apiserver::auth::join_control_plane`).
//! 2. The shared CA, service-account key and admin credential into the API
//!    server's data dir (the API server issues its own serving certificate
//!    from that CA when it starts, with this node's address, the
//!    control-plane address, the Service IP and the kubernetes names).
//! 3. `member add` of this node's etcd through the running members, then
//!    the etcd manifest with `--initial-cluster-state existing` and the
//!    initial cluster as etcd answered, and the API server's manifest.
//! 4. The agent (kubelet role) with the manifest folder, the control-plane
//!    taint and label; once its etcd and API server answer, the Node is
//!    registered as a worker's join does.
//! 5. admin.conf, the controllers' kubeconfigs, and the controller
//!    manager, scheduler (--leader-elect) and kube-vip manifests.
//!
//! A failure after step 1 rolls back what was done, newest first (the
//! manifests and files written, the etcd member added, the agent started)
//! and reports every rollback step that failed.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use labyrinth_apiserver::auth::client::{request, Trust};
use labyrinth_apiserver::auth::join_control_plane::{self as cp, Stacking};
use labyrinth_apiserver::store::etcd::{client::Client, members};
use labyrinth_apiserver::upload_certs::{CertificateKey, SHARED};
use labyrinth_contracts::store::ETCD_CLIENT_PORT;
use labyrinth_lab::cluster::{
    ADMIN_KUBECONFIG, APISERVER_DATA, API_PORT, CONTROLLER_MANAGER_CONF, ROOT_KUBECONFIG, SCHEDULER_CONF,
};
use labyrinth_lab::manifests::{self, MANIFEST_DIR};

use crate::join::JoinCmd;

/// How long the new etcd member and API server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// One thing done, and so one thing to undo.
enum Done {
    File(PathBuf),
    Member { endpoints: Vec<String>, id: u64 },
    Agent,
}

/// What was done so far, undone newest first on failure.
#[derive(Default)]
struct Rollback(Vec<Done>);

impl Rollback {
    /// Undo everything; the rollback steps that failed, each named.
    fn run(self, rt: &labyrinth_apiserver::Runtime) -> Vec<String> {
        let mut failed = Vec::new();
        for d in self.0.into_iter().rev() {
            match d {
                Done::File(p) => match std::fs::remove_file(&p) {
                    Ok(()) => eprintln!("[rollback] removed {}", p.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => failed.push(format!("removing {}: {e}", p.display())),
                },
                Done::Member { endpoints, id } => {
                    let r = Client::new(&endpoints)
                        .map_err(|e| e.to_string())
                        .and_then(|c| rt.block_on(members::remove(&c, id)).map_err(|e| e.to_string()));
                    match r {
                        Ok(()) => eprintln!("[rollback] removed etcd member {id:x}"),
                        Err(e) => failed.push(format!("removing etcd member {id:x}: {e}")),
                    }
                }
                Done::Agent => {
                    // Its runner drops the removed manifests' pods within a
                    // second or two; a stopped agent would leave them.
                    std::thread::sleep(Duration::from_secs(3));
                    match crate::uninstall::stop_agent() {
                        Ok(stopped) => stopped.iter().for_each(|s| eprintln!("[rollback] {s}")),
                        Err(e) => failed.push(format!("stopping the agent: {e:#}")),
                    }
                }
            }
        }
        failed
    }
}

pub fn run(cmd: &JoinCmd, key: &str) -> Result<i32> {
    let key: CertificateKey = key.parse().map_err(anyhow::Error::msg)?;
    let node = labyrinth_apiserver::node_name(&cmd.join)?;
    local_preflight(&cmd.join.kubeconfig)?;
    let rt = labyrinth_apiserver::runtime()?;
    let j = &cmd.join;
    let st = rt.block_on(cp::preflight(
        &j.server,
        &j.token,
        &j.discovery_token_ca_cert_hash,
        &key,
        &node,
    ))?;
    let admin = st.admin_token()?;
    let agent = rt
        .block_on(labyrinth_apiserver::auth::join::agent_config(
            &j.server, &st.trust, &admin,
        ))?
        .context("the cluster publishes no agent settings (ConfigMap kube-system/labyrinth-config)")?;
    let ip = crate::join::node_ip(&j.server)?;
    println!("[preflight] passed: the cluster runs on etcd, and the certificate key opens kube-system/kubeadm-certs");
    let mut done = Rollback::default();
    match steps(&rt, cmd, &node, ip, &st, &agent, &mut done) {
        Ok(()) => {
            println!("This node ({node}) has joined the cluster as a control plane: etcd member, API server, controller manager, scheduler and kube-vip run as static pods in {MANIFEST_DIR}");
            Ok(0)
        }
        Err(e) => {
            let failed = done.run(&rt);
            if failed.is_empty() {
                bail!("{e:#}\n[rollback] everything this join did was undone");
            }
            bail!(
                "{e:#}\n[rollback] not everything could be undone:\n  {}",
                failed.join("\n  ")
            )
        }
    }
}

/// What must not be there on a node that becomes a control plane (kubeadm
/// checks the same): its credential, manifests, etcd data, CA key.
fn local_preflight(kubeconfig: &Path) -> Result<()> {
    if kubeconfig.exists() {
        bail!(
            "[preflight] {} already exists: this node has joined a cluster already. Remove it first (as `kubeadm reset` would) to join again",
            kubeconfig.display()
        );
    }
    for f in ["etcd.yaml", "kube-apiserver.yaml"] {
        let p = Path::new(MANIFEST_DIR).join(f);
        if p.exists() {
            bail!(
                "[preflight] {} already exists: this node runs a control plane already",
                p.display()
            );
        }
    }
    let etcd = Path::new(labyrinth_lab::etcd::DATA_DIR);
    if etcd.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "[preflight] {} is not empty: this node holds etcd data already",
            etcd.display()
        );
    }
    for (_, file) in SHARED {
        let p = Path::new(APISERVER_DATA).join(file);
        if p.exists() {
            bail!(
                "[preflight] {} already exists: this node holds a control plane's keys already",
                p.display()
            );
        }
    }
    Ok(())
}

/// Write `body` to `path` whole (a hidden file renamed into place: the
/// kubelet skips hidden files), 0600 when `private`, recorded for rollback.
fn write(done: &mut Rollback, path: &Path, body: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}"));
    labyrinth_contracts::files::write_private(&tmp, body)?;
    done.0.push(Done::File(path.to_path_buf()));
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_manifest(done: &mut Rollback, c: &manifests::Component) -> Result<()> {
    write(done, &Path::new(MANIFEST_DIR).join(c.file()), c.yaml().as_bytes())
}

fn wait(what: &str, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ok() {
        if Instant::now() > deadline {
            bail!("{what} did not answer within {} s", START_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn steps(
    rt: &labyrinth_apiserver::Runtime,
    cmd: &JoinCmd,
    node: &str,
    ip: Ipv4Addr,
    st: &Stacking,
    agent: &labyrinth_contracts::agent_config::AgentConfig,
    done: &mut Rollback,
) -> Result<()> {
    let cluster = &st.cluster;
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    println!("[download-certs] writing the cluster's CA, service-account key and admin credential to {APISERVER_DATA}");
    for (name, body) in &st.files {
        let (_, file) = SHARED
            .iter()
            .find(|(n, _)| n == name)
            .context("a shared file the Secret names")?;
        write(done, &Path::new(APISERVER_DATA).join(file), body)?;
    }

    // Undone after the manifests are gone (see Rollback::run), whether or
    // not it got to start.
    done.0.push(Done::Agent);
    let peer = labyrinth_lab::etcd::peer_url_of(ip);
    let existing = Client::new(&cluster.etcd_endpoints)?;
    // etcd refuses a member while the last one added has not been
    // connected for a few seconds ("unhealthy cluster": a definite no, so
    // asking again cannot add twice); kubeadm retries too.
    let deadline = Instant::now() + START_TIMEOUT;
    let added = loop {
        match rt.block_on(members::add(&existing, &peer)) {
            Ok(a) => break a,
            Err(e) if e.to_string().contains("unhealthy cluster") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => bail!(
                "etcd member add {peer} through {}: {e}",
                cluster.etcd_endpoints.join(",")
            ),
        }
    };
    done.0.push(Done::Member {
        endpoints: cluster.etcd_endpoints.clone(),
        id: added.id,
    });
    let initial = added.initial_cluster(node);
    println!(
        "[etcd] added member {:x} ({peer}); initial cluster {initial}",
        added.id
    );
    write_manifest(
        done,
        &manifests::etcd(labyrinth_lab::etcd::argv_joining(node, ip, &initial)),
    )?;
    // Undo the member before its manifest: removing it needs a quorum,
    // which this member may be part of.
    let last = done.0.len() - 1;
    done.0.swap(last - 1, last);
    // Its own member first, then the others, as the first API server.
    let mut etcd_servers = vec![labyrinth_lab::etcd::client_url()];
    etcd_servers.extend(cluster.etcd_endpoints.iter().cloned());
    let etcd_servers = etcd_servers.join(",");
    let advertise = cluster.control_plane_endpoint.clone();
    write_manifest(
        done,
        &manifests::apiserver(
            manifests::apiserver_command(
                &exe,
                &format!("0.0.0.0:{API_PORT}"),
                &cluster.service_subnet.to_string(),
                &cluster.dns_domain,
                advertise.as_deref(),
                Some(&etcd_servers),
            ),
            APISERVER_DATA,
        ),
    )?;
    crate::join::start_agent(node, ip, cmd, agent, Some(MANIFEST_DIR))?;

    let local_etcd = Client::new(&[labyrinth_lab::etcd::client_url()])?;
    wait("this node's etcd member", || {
        rt.block_on(local_etcd.range("health", None, 0, 1, Duration::from_secs(2)))
            .is_ok()
    })?;
    let ca_der = labyrinth_apiserver::tls::pem_to_der(&String::from_utf8_lossy(&st.ca_pem))?;
    let local = format!("127.0.0.1:{API_PORT}");
    wait("this node's API server", || {
        rt.block_on(request(
            &local,
            &Trust::Ca(ca_der.clone()),
            "GET",
            "/version",
            None,
            None,
        ))
        .is_ok_and(|(code, _)| code == 200)
    })?;
    println!("[control-plane] etcd and the API server answer on this node");

    done.0.push(Done::File(cmd.join.kubeconfig.clone()));
    labyrinth_apiserver::run_join(&cmd.join)?;

    let admin = st.admin_token()?;
    let ca_pem = String::from_utf8_lossy(&st.ca_pem).into_owned();
    let server = format!("https://{}", advertise.as_deref().unwrap_or(&cmd.join.server));
    let own = format!("https://127.0.0.1:{API_PORT}");
    for (path, server) in [
        (ADMIN_KUBECONFIG, &server),
        (ROOT_KUBECONFIG, &server),
        (CONTROLLER_MANAGER_CONF, &own),
        (SCHEDULER_CONF, &own),
    ] {
        let body = labyrinth_apiserver::kubeconfig::render(server, &ca_pem, "kubernetes-admin", &admin);
        write(done, Path::new(path), body.as_bytes())?;
    }
    let address: Ipv4Addr = advertise
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(h, _)| h.parse().ok())
        .context("kubeadm-config's controlPlaneEndpoint is not address:port")?;
    for c in manifests::controller_pair(
        &exe,
        CONTROLLER_MANAGER_CONF,
        SCHEDULER_CONF,
        true,
        &cluster.controller_manager_extra_args,
    ) {
        write_manifest(done, &c)?;
    }
    write_manifest(done, &manifests::vip(&exe, ADMIN_KUBECONFIG, address))?;
    // Later joins may reach etcd through this member too; not being able
    // to say so is worth a warning, not a rollback.
    let client_url = format!("http://{ip}:{ETCD_CLIENT_PORT}");
    if let Err(e) = rt.block_on(cp::record_member(
        &cmd.join.server,
        &st.trust,
        &admin,
        &client_url,
    )) {
        eprintln!("warning: {e:#}");
    }
    Ok(())
}
