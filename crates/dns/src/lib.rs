//! `labyrinth dns`: the cluster DNS server, following the Kubernetes
//! DNS-Based Service Discovery specification.
//!
//! - [`catalog`]: Services, EndpointSlices and Pods → records → an immutable
//!   snapshot of precompiled answers, swapped atomically on change.
//! - [`wire`]: the allocation-free query parser and response splicer.
//! - [`server`]: UDP (SO_REUSEPORT workers) and TCP serving.
//! - [`watch`]: kube-rs watchers feeding the catalog.
//! - [`records_file`]: a static records file instead of an API server.
//! - [`bench`]: the dnsperf benchmark.
//! - [`vpc`]: the VPC's own resolver (node names, lab reverse zones).
//! - [`metrics`]: CoreDNS's Prometheus counters on `/metrics`.

pub mod bench;
pub mod catalog;
pub mod metrics;
mod pod_watch;
pub mod records_file;
pub mod server;
pub mod vpc;
pub mod watch;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use catalog::{Change, Store, ZoneConfig};

/// Command-line arguments of `labyrinth dns`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address for UDP and TCP.
    #[arg(long, default_value = "0.0.0.0:53")]
    pub listen: SocketAddr,
    /// Cluster domain served.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Kubeconfig file; without it the in-cluster configuration is used.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Resolver for names outside the cluster domain (default: REFUSED).
    #[arg(long)]
    pub upstream: Option<SocketAddr>,
    /// Serve a static YAML/JSON file of Services, EndpointSlices and Pods
    /// instead of watching an API server.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// UDP worker threads (each with its own SO_REUSEPORT socket).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// On SIGTERM keep answering this many seconds before exiting (CoreDNS's
    /// `health { lameduck }`): the Service's endpoints drop a terminating
    /// pod while it still serves, so no query is sent to a stopped server.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub lameduck: u64,
    /// Serve CoreDNS's Prometheus metrics on this address's `/metrics`
    /// (CoreDNS's `prometheus :9153`; off without it).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Serve through hickory's Message types (benchmark baseline).
    #[arg(long, hide = true)]
    pub naive: bool,
}

/// Builds a published catalog from a list of objects (static mode).
pub fn catalog_from_objects(cfg: ZoneConfig, objs: Vec<catalog::Object>) -> Result<(Store, catalog::Shared)> {
    let mut store = Store::new(cfg);
    for o in objs {
        store.apply(Change::Apply(o));
    }
    let snap = store.snapshot()?;
    Ok((store, catalog::shared(snap)))
}

/// Returns freed heap pages to the kernel (glibc keeps them otherwise).
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs the DNS server until killed.
pub fn run(args: Args) -> Result<i32> {
    let cfg = ZoneConfig::new(&args.cluster_domain);
    catalog::names::to_wire(&cfg.domain)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--cluster-domain {:?}", args.cluster_domain))?;
    let mut server_cfg = server::Config {
        listen: args.listen,
        udp_workers: args.workers.max(1),
        upstream: args.upstream,
        path: if args.naive {
            server::Path::Naive
        } else {
            server::Path::Fast
        },
        metrics: None,
    };
    if let Some(addr) = args.metrics {
        let m = metrics::Metrics::new(args.listen);
        let bound = metrics::http::serve(addr, m.clone())?;
        eprintln!("labyrinth dns: metrics on http://{bound}/metrics");
        server_cfg.metrics = Some(m);
    }
    if let Some(path) = &args.records {
        let objs = records_file::load(path)?;
        let (store, shared) = catalog_from_objects(cfg, objs)?;
        // The YAML parse peak is garbage now; hand it back so RSS shows what
        // serving holds (the store stays, as in watch mode).
        trim_heap();
        let server = server::Server::start(server_cfg, shared.clone())?;
        let snap = shared.load();
        eprintln!(
            "labyrinth dns: serving {} Services ({} names, serial {}) from {} on {} (udp+tcp)",
            store.service_count(),
            snap.name_count(),
            snap.serial,
            path.display(),
            server.udp_addr()
        );
        server.wait();
        return Ok(0);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    let lameduck = std::time::Duration::from_secs(args.lameduck);
    let ready = server_cfg.metrics.clone();
    rt.block_on(async move {
        // Listening before the first sync: a query that comes early waits
        // in the socket for the catalog instead of finding no server.
        let bound = server::Server::bind(server_cfg)?;
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("watching SIGTERM")?;
        let client = watch::client(args.kubeconfig.as_deref()).await?;
        let mut store = Store::new(cfg);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
        tokio::spawn(watch::watch_all(client, tx));
        // Answer nothing before the first full list of every kind is in:
        // an empty catalog would say NXDOMAIN for names that exist (CoreDNS
        // waits for its caches in the same way).
        let mut listed = std::collections::HashSet::new();
        while listed.len() < 3 {
            let change = rx.recv().await.context("the API watches ended before the first sync")?;
            if let Change::Reset(kind, _) = &change {
                listed.insert(*kind);
            }
            store.apply(change);
        }
        let shared = catalog::shared(store.snapshot()?);
        let server = bound.serve(shared.clone())?;
        if let Some(m) = &ready {
            m.set_ready(true);
        }
        eprintln!("labyrinth dns: synced with the API, serving on {} (udp+tcp)", server.udp_addr());
        store.take_changed();
        let publish = catalog::publish::run(&mut store, &mut rx, |store| match store.snapshot() {
            Ok(snap) => shared.store(Arc::new(snap)),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "catalog compile failed; keeping the previous snapshot"),
        });
        tokio::pin!(publish);
        tokio::select! {
            () = &mut publish => {
                drop(server);
                return anyhow::Ok(1);
            }
            _ = sigterm.recv() => {}
        }
        // Lame duck: still answering (and following the API) while the
        // endpoints controller and every node's datapath drop this pod.
        eprintln!("labyrinth dns: SIGTERM, answering {}s more (lame duck)", lameduck.as_secs());
        if let Some(m) = &ready {
            m.set_ready(false);
        }
        let _ = tokio::time::timeout(lameduck, &mut publish).await;
        drop(server);
        anyhow::Ok(0)
    })
}
