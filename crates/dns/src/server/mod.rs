//! The DNS server: SO_REUSEPORT UDP sockets served by worker threads, a TCP
//! listener with a thread per connection, optional forwarding upstream.

mod answer;
mod batch;
mod forward;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use crate::catalog::Shared;

pub use answer::Path;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// UDP worker threads (each with its own SO_REUSEPORT socket).
    pub udp_workers: usize,
    /// Upstream resolver for names outside our zones (None: REFUSED).
    pub upstream: Option<SocketAddr>,
    pub path: Path,
    /// Where queries and answers are counted (`--metrics`), if anywhere.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Config {
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            udp_workers: 1,
            upstream: None,
            path: Path::Fast,
            metrics: None,
        }
    }
}

/// A running server; dropping it stops every thread.
pub struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
}

/// Sockets bound and listening but not yet served: queries queue in the
/// kernel until [`Bound::serve`]. The cluster DNS binds before its first
/// sync with the API, so a pod that is Ready (its process runs) never
/// answers "port unreachable"; the early queries wait a moment instead.
pub struct Bound {
    cfg: Config,
    sockets: Vec<std::net::UdpSocket>,
    tcp_listener: std::net::TcpListener,
}

impl Bound {
    pub fn udp_addr(&self) -> Result<SocketAddr> {
        Ok(self.sockets[0].local_addr()?)
    }

    /// Starts serving `catalog` on the bound sockets.
    pub fn serve(self, catalog: Shared) -> Result<Server> {
        let Bound {
            cfg,
            sockets,
            tcp_listener,
        } = self;
        let stop = Arc::new(AtomicBool::new(false));
        let udp_addr = sockets[0].local_addr()?;
        let tcp_addr = tcp_listener.local_addr()?;
        let fwd = cfg.upstream.map(forward::Forwarder::new);
        let mut threads = Vec::new();
        for (i, sock) in sockets.into_iter().enumerate() {
            let (stop, catalog, fwd) = (stop.clone(), catalog.clone(), fwd.clone());
            let (path, metrics) = (cfg.path, cfg.metrics.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || udp::serve(sock, catalog, path, fwd, metrics, stop))?,
            );
        }
        {
            let (stop, catalog) = (stop.clone(), catalog.clone());
            let (path, metrics) = (cfg.path, cfg.metrics.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("dns-tcp".into())
                    .spawn(move || tcp::serve(tcp_listener, catalog, path, fwd, metrics, stop))?,
            );
        }
        Ok(Server {
            stop,
            threads,
            udp_addr,
            tcp_addr,
        })
    }
}

impl Server {
    /// Binds UDP and TCP (listening), without serving yet.
    pub fn bind(cfg: Config) -> Result<Bound> {
        let sockets = udp::bind(cfg.listen, cfg.udp_workers.max(1))
            .with_context(|| format!("binding UDP {}", cfg.listen))?;
        let udp_addr = sockets[0].local_addr()?;
        // Same port as UDP, so a `--listen ...:0` test gets one port for both.
        let tcp_listener = tcp::bind(udp_addr).with_context(|| format!("binding TCP {udp_addr}"))?;
        Ok(Bound {
            cfg,
            sockets,
            tcp_listener,
        })
    }

    /// Binds and starts serving `catalog`.
    pub fn start(cfg: Config, catalog: Shared) -> Result<Server> {
        Server::bind(cfg)?.serve(catalog)
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Blocks until the server stops (it only stops when dropped elsewhere,
    /// so this is for the long-running command).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
