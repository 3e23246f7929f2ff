//! One port-forward connection: SPDY frames in, frames out. Each complete
//! stream pair gets a TCP connection to its port, made from inside the
//! pod's network namespace to its loopback address (as container runtimes
//! do, so a server bound to 127.0.0.1 in the pod is reached too).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use labyrinth_netlink::netns::NetNs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::pairs::{self, Kind, Pair, Pairs};
use crate::streaming::spdy::frame::{Incoming, Outgoing, Reader, Writer, REFUSED_STREAM};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most one data frame to the client carries.
const CHUNK: usize = 32 * 1024;

/// The pod a connection forwards to.
pub struct Target {
    /// `namespace/name`, for messages.
    pub pod: String,
    pub netns: PathBuf,
}

/// Connect to `port` on the pod's loopback (IPv4, then IPv6).
async fn connect(netns: PathBuf, port: u16) -> Result<TcpStream> {
    let std = tokio::task::spawn_blocking(move || -> Result<std::net::TcpStream> {
        let ns = NetNs::open(&netns, "pod").map_err(anyhow::Error::from)?;
        let dial = |ip: std::net::IpAddr| {
            std::net::TcpStream::connect_timeout(&SocketAddr::new(ip, port), CONNECT_TIMEOUT)
        };
        ns.run(|| {
            dial(Ipv4Addr::LOCALHOST.into()).or_else(|e| dial(Ipv6Addr::LOCALHOST.into()).map_err(|_| e))
        })
        .map_err(anyhow::Error::from)?
        .with_context(|| format!("connecting to localhost:{port} in the pod's network namespace"))
    })
    .await
    .context("connect task")??;
    std.set_nonblocking(true)?;
    Ok(TcpStream::from_std(std)?)
}

/// Serve one forwarded connection until its TCP side ends or the client
/// resets the data stream; both streams are then finished.
async fn forward(
    pair: Pair,
    input: Option<mpsc::Receiver<Vec<u8>>>,
    mut reset: oneshot::Receiver<()>,
    tx: mpsc::Sender<Outgoing>,
    target: Arc<Target>,
) {
    match connect(target.netns.clone(), pair.port).await {
        Err(e) => {
            // The kubelet's error document: the client prints the message.
            let msg = serde_json::json!({
                "closeConnection": true,
                "message": format!("error forwarding port {} to pod {}: {e:#}", pair.port, target.pod),
            });
            tracing::info!("port-forward to {}: {e:#}", target.pod);
            let data = format!("{msg}\n").into_bytes();
            let _ = tx
                .send(Outgoing::Data {
                    id: pair.error,
                    fin: false,
                    data,
                })
                .await;
        }
        Ok(tcp) => {
            let (mut r, mut w) = tcp.into_split();
            // Client to pod: until the client finishes or resets the
            // stream (its channel closes either way), then half-close.
            tokio::spawn(async move {
                if let Some(mut input) = input {
                    while let Some(b) = input.recv().await {
                        if w.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                }
                let _ = w.shutdown().await;
            });
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = tokio::select! {
                    n = r.read(&mut buf) => n,
                    _ = &mut reset => break,
                };
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let f = Outgoing::Data {
                            id: pair.data,
                            fin: false,
                            data: buf[..n].to_vec(),
                        };
                        if tx.send(f).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
    // The client waits for the error stream's end before it lets go.
    let _ = tx
        .send(Outgoing::Data {
            id: pair.data,
            fin: true,
            data: Vec::new(),
        })
        .await;
    let _ = tx
        .send(Outgoing::Data {
            id: pair.error,
            fin: true,
            data: Vec::new(),
        })
        .await;
}

/// Run the protocol over a byte transport: `incoming` pieces of the
/// client's stream, `outgoing` whole frames to it.
pub async fn run(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    outgoing: mpsc::Sender<Vec<u8>>,
    target: Arc<Target>,
) {
    let (tx, mut rx) = mpsc::channel::<Outgoing>(256);
    // Frames are encoded in the order they are sent: the header stream is
    // one zlib stream.
    let writer = tokio::spawn(async move {
        let mut w = Writer::default();
        while let Some(f) = rx.recv().await {
            match w.encode(&f) {
                Ok(b) => {
                    if outgoing.send(b).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("port-forward: {e:#}");
                    break;
                }
            }
        }
    });
    let mut reader = Reader::default();
    let mut pairs = Pairs::default();
    // Client-to-pod bytes of each data stream, and the receivers of data
    // streams whose error stream has not come yet.
    let mut inputs: HashMap<u32, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut waiting: HashMap<u32, mpsc::Receiver<Vec<u8>>> = HashMap::new();
    let mut resets: HashMap<u32, oneshot::Sender<()>> = HashMap::new();
    let mut tasks = JoinSet::new();
    'conn: while let Some(bytes) = incoming.recv().await {
        reader.push(&bytes);
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("port-forward to {}: {e:#}", target.pod);
                    let _ = tx.send(Outgoing::GoAway).await;
                    break 'conn;
                }
            };
            match frame {
                Incoming::SynStream { id, headers, .. } => {
                    let opened = pairs::parse(id, &headers).and_then(|s| {
                        let kind = s.kind;
                        pairs.add(s).map(|p| (kind, p))
                    });
                    let (kind, pair) = match opened {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::info!("port-forward to {}: stream {id} refused: {e:#}", target.pod);
                            let _ = tx
                                .send(Outgoing::RstStream {
                                    id,
                                    status: REFUSED_STREAM,
                                })
                                .await;
                            continue;
                        }
                    };
                    let _ = tx.send(Outgoing::SynReply(id)).await;
                    if kind == Kind::Data {
                        let (itx, irx) = mpsc::channel(16);
                        inputs.insert(id, itx);
                        waiting.insert(id, irx);
                    }
                    if let Some(pair) = pair {
                        let (rtx, rrx) = oneshot::channel();
                        resets.insert(pair.data, rtx);
                        let input = waiting.remove(&pair.data);
                        tasks.spawn(forward(pair, input, rrx, tx.clone(), target.clone()));
                    }
                }
                Incoming::Data { id, fin, data } => {
                    if let Some(s) = inputs.get(&id) {
                        if !data.is_empty() && s.send(data).await.is_err() {
                            inputs.remove(&id);
                        }
                    }
                    if fin {
                        inputs.remove(&id);
                    }
                }
                Incoming::RstStream { id } => {
                    inputs.remove(&id);
                    waiting.remove(&id);
                    if let Some(r) = resets.remove(&id) {
                        let _ = r.send(());
                    }
                }
                Incoming::Ping(id) => {
                    let _ = tx.send(Outgoing::Ping(id)).await;
                }
                Incoming::GoAway => break 'conn,
                Incoming::Ignored(_) => {}
            }
        }
        // Finished pairs leave the set.
        while tasks.try_join_next().is_some() {}
    }
    // The client has gone: so do its connections.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    drop(tx);
    let _ = writer.await;
}
