//! Start-up: open the store, make the PKI, create what a fresh cluster has
//! (the four namespaces, default/kubernetes, kube-public/cluster-info, an admin
//! kubeconfig) and serve HTTPS.

use crate::alloc::ClusterIpAllocator;
use crate::nodeports::NodePortAllocator;
use crate::resources;
use crate::rest::{self, admit, service_alloc};
use crate::state::AppState;
use crate::store::{self, Backend, Store};
use crate::{kubeconfig, tls};
use anyhow::Context;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The address written into kubeconfigs and cluster-info.
    pub advertise: SocketAddr,
    pub data_dir: PathBuf,
    pub service_cidr: ipnet::Ipv4Net,
    pub cluster_domain: String,
}

pub struct Running {
    pub addr: SocketAddr,
    pub admin_kubeconfig: PathBuf,
    pub ca_hash: String,
    pub state: Arc<AppState>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting and drop open connections' listener task.
    pub fn shutdown(self) {
        self.task.abort();
    }
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task")
    }
}

fn ensure(st: &AppState, kind: &str, mut obj: Value) -> anyhow::Result<()> {
    let res = resources::by_kind(kind).context("kind served")?;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(cur) = st.store.get(&res.key(), &ns, &name) {
        if kind == "ConfigMap" && cur.get("data") != obj.get("data") {
            let mut upd = (*cur).clone();
            upd["data"] = obj["data"].clone();
            st.store
                .update(&res.key(), &ns, &name, upd, None)
                .context("updating cluster-info")?;
        }
        return Ok(());
    }
    admit::new_metadata(&mut obj);
    admit::defaults(res, &mut obj);
    let taken = service_alloc::allocate(st, res, &mut obj, None).map_err(|e| anyhow::anyhow!(e.message))?;
    if let Err(e) = st.store.create(&res.key(), &ns, &name, obj) {
        taken.rollback(st);
        return Err(e).with_context(|| format!("creating {kind} {ns}/{name}"));
    }
    Ok(())
}

fn bootstrap(st: &AppState, cfg: &Config) -> anyhow::Result<()> {
    for (kind, obj) in crate::auth::rbac_defaults::objects() {
        ensure(st, kind, obj)?;
    }
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            st,
            "Namespace",
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        )?;
    }
    ensure(
        st,
        "Service",
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": cfg.advertise.port()}]}}),
    )?;
    ensure(
        st,
        "EndpointSlice",
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [cfg.advertise.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": cfg.advertise.port(), "protocol": "TCP"}]}),
    )?;
    // Written here as kube-apiserver's own endpoint reconciler does: the
    // `kubernetes` Service has no selector, so no controller fills it.
    ensure(
        st,
        "Endpoints",
        json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": cfg.advertise.ip().to_string()}],
            "ports": [{"name": "https", "port": cfg.advertise.port(), "protocol": "TCP"}]}]}),
    )?;
    ensure(
        st,
        "ConfigMap",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": kubeconfig::cluster_info(&format!("https://{}", cfg.advertise), &st.ca_pem)}}),
    )?;
    Ok(())
}

fn admin_token(cfg: &Config) -> anyhow::Result<String> {
    let p = cfg.data_dir.join("admin.token");
    if let Ok(t) = std::fs::read_to_string(&p) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let t = crate::auth::tokens::random_string(
        48,
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    );
    std::fs::write(&p, &t).with_context(|| format!("writing {}", p.display()))?;
    Ok(t)
}

/// Start serving on the embedded store; returns once the listener is bound.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    start_with(cfg, Backend::Embedded).await
}

/// Start serving on the given store backend.
pub async fn start_with(mut cfg: Config, backend: Backend) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    if cfg.advertise.port() == 0 {
        // Port 0 (tests): tell clients the port actually bound.
        cfg.advertise.set_port(addr.port());
    }
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store: Arc<dyn Store> = store::open(&backend, &cfg.data_dir)?;
    let mut ips: Vec<IpAddr> = vec![cfg.advertise.ip(), "127.0.0.1".parse()?];
    if !cfg.listen.ip().is_unspecified() {
        ips.push(cfg.listen.ip());
    }
    let alloc = ClusterIpAllocator::new(cfg.service_cidr);
    ips.push(IpAddr::V4(alloc.nth(1)));
    ips.dedup();
    let d = &cfg.cluster_domain;
    let dns = vec![
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{d}"),
        "localhost".into(),
    ];
    let pki = tls::load_or_create(&cfg.data_dir, &ips, &dns)?;
    let ca_hash = tls::ca_cert_hash(&pki.ca_der)?;
    // What stored Services hold is what is taken: the allocators keep no
    // state of their own across restarts.
    let mut alloc = alloc;
    let mut node_ports = NodePortAllocator::new();
    for svc in store.list("services", None).0 {
        service_alloc::replay(&mut alloc, &mut node_ports, &svc);
    }
    let state = Arc::new(AppState {
        store,
        alloc: Mutex::new(alloc),
        node_ports: Mutex::new(node_ports),
        admin_token: admin_token(&cfg)?,
        ca_pem: pki.ca_pem.clone(),
        advertise: cfg.advertise.to_string(),
        kubelet_tls: pki.kubelet_client.clone(),
        sa_key: crate::auth::sa_token::load_or_create_key(&cfg.data_dir)?,
        api_audience: crate::auth::sa_token::api_audience(&cfg.cluster_domain),
    });
    bootstrap(&state, &cfg)?;
    let admin_kubeconfig = cfg.data_dir.join("admin.kubeconfig");
    kubeconfig::write(
        &admin_kubeconfig,
        &format!("https://{}", cfg.advertise),
        &pki.ca_pem,
        "kubernetes-admin",
        &state.admin_token,
    )?;

    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
    let app = rest::router(state.clone());
    let sweep = crate::events::expiry_loop(state.clone());
    let accept = async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            // As Go's net package does for every TCP connection: a small
            // HTTP/2 frame (a watch event, a PATCH's answer) goes out now
            // instead of waiting ~40 ms on the peer's delayed ACK.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    };
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = accept => {},
            _ = sweep => {},
        }
    });
    tracing::info!(%addr, "API server listening");
    Ok(Running {
        addr,
        admin_kubeconfig,
        ca_hash,
        state,
        task,
    })
}
