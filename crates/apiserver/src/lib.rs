//! labyrinth-apiserver: a Kubernetes-compatible API server (REST over HTTPS,
//! embedded persistent store, watch, bearer-token auth) and the kubeadm-like
//! `token create` / `join` flow.
//!
//! Entry points for the `labyrinth` binary:
//! - `labyrinth server`  → [`Args`] / [`run`]
//! - `labyrinth token create --print-join-command` → [`TokenArgs`] / [`run_token`]
//! - `labyrinth join <ip>:6443 --token … --discovery-token-ca-cert-hash sha256:…` → [`JoinArgs`] / [`run_join`]

pub mod alloc;
pub mod auth;
pub mod events;
pub mod kubeconfig;
pub mod nodeports;
pub mod resources;
pub mod rest;
pub mod server;
pub mod service_type;
pub mod state;
pub mod store;
pub mod tls;
pub mod upload_certs;
pub mod validation;

use anyhow::Context;
use labyrinth_contracts::store::StoreKind;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `labyrinth server`: run the API server.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "0.0.0.0:6443")]
    pub listen: SocketAddr,
    /// Address clients are told to use (kubeconfig, cluster-info, the
    /// kubernetes EndpointSlice); defaults to --listen, or 127.0.0.1 when that
    /// is unspecified.
    #[arg(long)]
    pub advertise_address: Option<SocketAddr>,
    /// Where the store, the CA and the admin kubeconfig live.
    #[arg(long, default_value = "/var/lib/labyrinth/apiserver")]
    pub data_dir: PathBuf,
    /// Where ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::Ipv4Net,
    /// The DNS domain of Services and pods.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Where objects are kept: the embedded log in the data dir, or etcd.
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// etcd's client URLs (with --store etcd), comma-separated, as
    /// kube-apiserver's flag: http://127.0.0.1:2379
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// Async worker threads; 0 is one per core
    /// (`labyrinth_contracts::worker_threads`: a lab passes 1).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
}

impl Args {
    pub fn to_config(&self) -> server::Config {
        let advertise = self.advertise_address.unwrap_or_else(|| {
            if self.listen.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], self.listen.port()))
            } else {
                self.listen
            }
        });
        server::Config {
            listen: self.listen,
            advertise,
            data_dir: self.data_dir.clone(),
            service_cidr: self.service_cidr,
            cluster_domain: self.cluster_domain.clone(),
        }
    }
    pub fn backend(&self) -> anyhow::Result<store::Backend> {
        match self.store {
            StoreKind::Embedded => Ok(store::Backend::Embedded),
            StoreKind::Etcd if self.etcd_servers.is_empty() => {
                anyhow::bail!("--store etcd needs --etcd-servers (e.g. http://127.0.0.1:2379)")
            }
            StoreKind::Etcd => Ok(store::Backend::Etcd {
                servers: self.etcd_servers.clone(),
            }),
        }
    }
}

/// The runtime the one-shot commands (token, join) run their calls on.
pub type Runtime = tokio::runtime::Runtime;

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(0)
}

/// A runtime of `workers` worker threads (0: one per core).
fn runtime_with(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    builder.enable_all().build().context("starting the tokio runtime")
}

/// Run the server until SIGINT/SIGTERM. Prints where the admin kubeconfig is.
pub fn run(args: Args) -> anyhow::Result<i32> {
    runtime_with(args.worker_threads)?.block_on(async move {
        let backend = args.backend()?;
        let running = server::start_with(args.to_config(), backend).await?;
        eprintln!(
            "labyrinth apiserver listening on https://{}\nadmin kubeconfig: {}\nCA cert hash: {}",
            running.addr,
            running.admin_kubeconfig.display(),
            running.ca_hash
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        running.shutdown();
        Ok(0)
    })
}

/// `labyrinth token create`: make a bootstrap token through the API with the
/// admin kubeconfig of the data dir.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Print the full `labyrinth join …` command instead of the token alone.
    #[arg(long)]
    pub print_join_command: bool,
    /// With --print-join-command: print the command that joins another
    /// control plane with the certificates uploaded under this key
    /// (`init phase upload-certs`), as kubeadm's.
    #[arg(long, requires = "print_join_command")]
    pub certificate_key: Option<String>,
    /// Token lifetime, e.g. 24h, 30m, 90s.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
    /// The API server's data directory (its admin kubeconfig and CA).
    #[arg(long, default_value = "/var/lib/labyrinth/apiserver")]
    pub data_dir: PathBuf,
}

fn parse_ttl(s: &str) -> anyhow::Result<std::time::Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("--ttl {s:?}: expected a number with s, m or h"))?;
    let mul = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        _ => anyhow::bail!("--ttl {s:?}: unit must be s, m or h"),
    };
    Ok(std::time::Duration::from_secs(n * mul))
}

/// What the admin kubeconfig of a data dir gives a command run on a
/// control plane: the server (host:port), the admin token, the CA (DER).
struct AdminClient {
    hostport: String,
    token: String,
    ca_der: Vec<u8>,
}

impl AdminClient {
    fn load(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let kc: serde_json::Value = serde_yaml::from_str(
            &std::fs::read_to_string(data_dir.join("admin.kubeconfig"))
                .context("reading admin.kubeconfig (is the server initialised?)")?,
        )?;
        let server = kc
            .pointer("/clusters/0/cluster/server")
            .and_then(|v| v.as_str())
            .context("kubeconfig server")?;
        let token = kc
            .pointer("/users/0/user/token")
            .and_then(|v| v.as_str())
            .context("kubeconfig token")?
            .to_string();
        let ca_pem = std::fs::read_to_string(data_dir.join("pki/ca.crt")).context("reading pki/ca.crt")?;
        Ok(Self {
            hostport: server.trim_start_matches("https://").to_string(),
            token,
            ca_der: tls::pem_to_der(&ca_pem)?,
        })
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        auth::client::request(
            &self.hostport,
            &auth::client::Trust::Ca(self.ca_der.clone()),
            method,
            path,
            Some(&self.token),
            body,
        )
        .await
    }
}

/// Create a bootstrap token; returns (token, join command).
pub async fn create_token(
    data_dir: &std::path::Path,
    ttl: std::time::Duration,
) -> anyhow::Result<(String, String)> {
    let admin = AdminClient::load(data_dir)?;
    let hash = tls::ca_cert_hash(&admin.ca_der)?;
    let (token, secret) = auth::tokens::new_bootstrap_token(ttl);
    let (code, resp) = admin
        .call("POST", "/api/v1/namespaces/kube-system/secrets", Some(&secret))
        .await?;
    if code != 201 {
        anyhow::bail!("creating the bootstrap token: HTTP {code}: {}", resp["message"]);
    }
    let cmd = format!(
        "labyrinth join {} --token {token} --discovery-token-ca-cert-hash {hash}",
        admin.hostport
    );
    Ok((token, cmd))
}

/// `labyrinth init phase upload-certs --upload-certs`, as kubeadm's.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadCertsArgs {
    /// Upload the control plane's shared certificates and keys to the
    /// Secret kube-system/kubeadm-certs (kubeadm's flag; required).
    #[arg(long)]
    pub upload_certs: bool,
    /// The key to encrypt them with (64 hex digits); a new one when absent.
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// How long the Secret may be used, e.g. 2h (kubeadm's lifetime).
    #[arg(long, default_value = "2h")]
    pub ttl: String,
    /// The API server's data directory (its admin kubeconfig and keys).
    #[arg(long, default_value = "/var/lib/labyrinth/apiserver")]
    pub data_dir: PathBuf,
}

/// Seal the shared files under `key` into kube-system/kubeadm-certs (made
/// again if there), with the Role that lets bootstrap tokens read it.
pub async fn upload_certs(
    data_dir: &std::path::Path,
    key: &upload_certs::CertificateKey,
    ttl: std::time::Duration,
) -> anyhow::Result<()> {
    use upload_certs::{NAMESPACE, SECRET_NAME};
    let admin = AdminClient::load(data_dir)?;
    let files = upload_certs::read_shared(data_dir)?;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::try_from(ttl)?;
    let secret = upload_certs::secret(key, &files, expires)?;
    let path = format!("/api/v1/namespaces/{NAMESPACE}/secrets");
    let (code, resp) = admin
        .call("DELETE", &format!("{path}/{SECRET_NAME}"), None)
        .await?;
    if code != 200 && code != 202 && code != 404 {
        anyhow::bail!(
            "replacing Secret {NAMESPACE}/{SECRET_NAME}: HTTP {code}: {}",
            resp["message"]
        );
    }
    let (code, resp) = admin.call("POST", &path, Some(&secret)).await?;
    if code != 201 {
        anyhow::bail!(
            "storing Secret {NAMESPACE}/{SECRET_NAME}: HTTP {code}: {}",
            resp["message"]
        );
    }
    let [role, binding] = upload_certs::reader_rbac();
    for (obj, plural) in [(role, "roles"), (binding, "rolebindings")] {
        let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/{plural}");
        let (code, resp) = admin.call("POST", &path, Some(&obj)).await?;
        if code != 201 && code != 409 {
            anyhow::bail!(
                "creating {plural} {}: HTTP {code}: {}",
                upload_certs::ROLE,
                resp["message"]
            );
        }
    }
    Ok(())
}

pub fn run_upload_certs(args: UploadCertsArgs) -> anyhow::Result<i32> {
    if !args.upload_certs {
        anyhow::bail!("upload-certs: pass --upload-certs to store the certificates in the cluster");
    }
    let key = match &args.certificate_key {
        Some(k) => k.parse().map_err(anyhow::Error::msg)?,
        None => upload_certs::CertificateKey::generate()?,
    };
    let ttl = parse_ttl(&args.ttl)?;
    runtime()?.block_on(upload_certs(&args.data_dir, &key, ttl))?;
    println!(
        "[upload-certs] Storing the certificates in Secret \"{}\" in the \"{}\" Namespace (expires in {})",
        upload_certs::SECRET_NAME,
        upload_certs::NAMESPACE,
        args.ttl
    );
    println!("[upload-certs] Using certificate key:\n{key}");
    Ok(0)
}

pub fn run_token(args: TokenArgs) -> anyhow::Result<i32> {
    let ttl = parse_ttl(&args.ttl)?;
    let mut control_plane = String::new();
    if let Some(k) = &args.certificate_key {
        let key: upload_certs::CertificateKey = k.parse().map_err(anyhow::Error::msg)?;
        control_plane = format!(" --control-plane --certificate-key {key}");
    }
    let (token, cmd) = runtime()?.block_on(create_token(&args.data_dir, ttl))?;
    println!(
        "{}",
        if args.print_join_command {
            cmd + &control_plane
        } else {
            token
        }
    );
    Ok(0)
}

/// `labyrinth join <server> --token … --discovery-token-ca-cert-hash sha256:…`
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// The API server, host:port.
    pub server: String,
    /// The bootstrap token (`token create` prints it).
    #[arg(long)]
    pub token: String,
    /// sha256:<hash> of the cluster CA's public key, checked before trusting the server.
    #[arg(long)]
    pub discovery_token_ca_cert_hash: String,
    /// The node name to register (default: this host's name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Where to write the node's kubeconfig.
    #[arg(long, default_value = "/etc/labyrinth/kubelet.kubeconfig")]
    pub kubeconfig: PathBuf,
}

/// The name the node joins as: --node-name, or this host's name.
pub fn node_name(args: &JoinArgs) -> anyhow::Result<String> {
    Ok(match args.node_name.clone() {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .context("reading the hostname")?
            .trim()
            .to_string(),
    })
}

/// Join, print the outcome; returns the node's name and what the join learned.
pub fn run_join(args: &JoinArgs) -> anyhow::Result<(String, auth::join::Joined)> {
    let node = node_name(args)?;
    let joined = runtime()?.block_on(auth::join::join(
        &args.server,
        &args.token,
        &args.discovery_token_ca_cert_hash,
        &node,
        &args.kubeconfig,
    ))?;
    println!(
        "This node ({node}) has joined the cluster; kubeconfig: {}",
        args.kubeconfig.display()
    );
    Ok((node, joined))
}
