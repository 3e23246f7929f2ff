//! `/attach/{namespace}/{pod}/{container}`, the kubelet's path the API
//! server proxies `pods/attach` to: the running container's output from
//! now on (read as its log writer appends it, stdout and stderr on their
//! channels) and, for a `stdin: true` container, the client's stdin into
//! its kept pipe. Same websocket channel protocol as exec; the status on
//! the error channel comes when the container's process ends.

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::conn::{negotiate, refuse, refuse_lookup, Conn};
use super::logs::still_running;
use super::protocol::{self, Incoming, Outcome, PROTOCOLS};
use crate::runtime::log_query;
use crate::runtime::sandbox;
use crate::runtime::{logs, stdin, RuntimeConfig};

/// How often the output is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Which streams the client wants (the query's flags).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl AttachOptions {
    pub fn from_query(q: &[(String, String)]) -> Result<Self, String> {
        let mut o = AttachOptions::default();
        for (k, v) in q {
            let slot = match k.as_str() {
                "stdin" => &mut o.stdin,
                "stdout" => &mut o.stdout,
                "stderr" => &mut o.stderr,
                _ => continue,
            };
            *slot = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                other => return Err(format!("query parameter {k}={other:?} is not a boolean")),
            };
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(o)
    }
}

/// What an attach reads and writes.
struct Attached {
    cfg: RuntimeConfig,
    ns: String,
    pod: String,
    container: String,
    /// This start's log file and its number.
    log: PathBuf,
    start: u32,
    /// The kept stdin pipe, when asked for and the container has one.
    stdin: Option<PathBuf>,
    opts: AttachOptions,
}

fn locate(
    cfg: &RuntimeConfig,
    ns: &str,
    pod: &str,
    container: &str,
    opts: AttachOptions,
) -> Result<Attached, (StatusCode, String)> {
    let rec = sandbox::find(cfg, &format!("{ns}/{pod}")).map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} does not exist on this node"),
        )
    })?;
    let c = rec
        .containers
        .get(container)
        .filter(|c| c.process.is_some_and(|p| p.alive()))
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("container not found ({container:?})"),
            )
        })?;
    let pipe = stdin::path(cfg, &rec.pod.uid, container);
    let stdin = match (opts.stdin, pipe.exists()) {
        (false, _) => None,
        (true, true) => Some(pipe),
        (true, false) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("container {container:?} in pod {pod:?} has no stdin to attach to: its spec needs stdin: true"),
            ))
        }
    };
    Ok(Attached {
        log: logs::file(&cfg.log_dir, &rec.pod, container, c.restarts),
        start: c.restarts,
        cfg: cfg.clone(),
        ns: ns.into(),
        pod: pod.into(),
        container: container.into(),
        stdin,
        opts,
    })
}

pub(super) async fn attach(
    State(c): State<Conn>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refused) = c.refuse_unless_apiserver("attach") {
        return refused;
    }
    let opts = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| AttachOptions::from_query(&q))
    {
        Ok(o) => o,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let cfg = c.s.runtime.clone();
    let found = tokio::task::spawn_blocking(move || locate(&cfg, &ns, &pod, &container, opts)).await;
    let at = match found {
        Ok(Ok(a)) => a,
        Ok(Err((code, e))) => return refuse_lookup(code, &e),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            let msg = format!(
                "attach needs a websocket upgrade ({}): {}",
                PROTOCOLS.join(", "),
                e.body_text()
            );
            return refuse(StatusCode::BAD_REQUEST, "BadRequest", &msg);
        }
    };
    let ws = match negotiate(ws) {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    tracing::info!("attach to {}/{}/{} ({:?})", at.ns, at.pod, at.container, at.opts);
    ws.on_upgrade(move |socket| run(socket, at))
}

/// The client's messages: stdin into the pipe, until it goes away.
async fn input(mut stream: futures::stream::SplitStream<WebSocket>, pipe: Option<PathBuf>) {
    let mut w = match pipe {
        Some(p) => tokio::net::unix::pipe::OpenOptions::new().open_sender(&p).ok(),
        None => None,
    };
    while let Some(Ok(m)) = stream.next().await {
        let data = match &m {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        if let (Ok(Incoming::Stdin(d)), Some(s)) = (protocol::parse(&data), w.as_mut()) {
            if s.write_all(&d).await.is_err() {
                w = None;
            }
        }
        // A closed stdin stays open for the container: it is kept, as the
        // kubelet keeps it unless stdinOnce.
    }
}

/// Send what the container writes from now on, until it ends or the
/// client goes away.
async fn run(ws: WebSocket, at: Attached) {
    let (sink, stream) = ws.split();
    let (tx, writer) = super::session::spawn_writer(sink);
    let mut file = tokio::fs::File::open(&at.log).await.ok();
    if let Some(f) = file.as_mut() {
        // From now on: what was written before is `kubectl logs`' to show.
        // Before stdin flows, so that nothing it causes is skipped.
        let _ = f.seek(std::io::SeekFrom::End(0)).await;
    }
    let mut client = tokio::spawn(input(stream, at.stdin.clone()));
    let mut pending = Vec::new();
    loop {
        let (cfg, ns, pod, c, start) = (
            at.cfg.clone(),
            at.ns.clone(),
            at.pod.clone(),
            at.container.clone(),
            at.start,
        );
        let running = tokio::task::spawn_blocking(move || still_running(&cfg, &ns, &pod, &c, start))
            .await
            .unwrap_or(false);
        if let Some(f) = file.as_mut() {
            let _ = f.read_to_end(&mut pending).await;
        }
        let (recs, used) = log_query::whole_records(&pending);
        for r in &recs {
            let (channel, wanted) = if r.stream == "stderr" {
                (protocol::STDERR, at.opts.stderr)
            } else {
                (protocol::STDOUT, at.opts.stdout)
            };
            if !wanted {
                continue;
            }
            let mut text = r.text.to_vec();
            if !r.partial {
                text.push(b'\n');
            }
            if tx
                .send(Message::Binary(protocol::frame(channel, &text).into()))
                .await
                .is_err()
            {
                return;
            }
        }
        pending.drain(..used);
        if !running {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut client => return,
        }
    }
    super::session::finish(&tx, &Outcome::Exited(0)).await;
    drop(tx);
    let _ = writer.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), client).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn attach_options_from_the_query() {
        let o =
            AttachOptions::from_query(&q(&[("stdout", "true"), ("stdin", "1"), ("container", "c")])).unwrap();
        assert_eq!(
            o,
            AttachOptions {
                stdin: true,
                stdout: true,
                stderr: false
            }
        );
        let e = AttachOptions::from_query(&q(&[("stdout", "yes")])).unwrap_err();
        assert!(e.contains("stdout=\"yes\""), "{e}");
        let e = AttachOptions::from_query(&q(&[("tty", "false")])).unwrap_err();
        assert!(e.contains("at least 1 of stdin, stdout, stderr"), "{e}");
    }
}
