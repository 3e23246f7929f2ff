//! `GET /containerLogs/{namespace}/{pod}/{container}?…`, the kubelet's
//! path the API server proxies `pods/log` to: the container's log file
//! (this start's, or the previous one's) read back per the query, and with
//! `follow` kept open, sending what is appended, until the container stops.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::jiff::Timestamp;

use super::conn::{refuse, refuse_lookup, Conn};
use crate::runtime::log_query::{self, LogOptions};
use crate::runtime::sandbox::{self, ContainerRecord};
use crate::runtime::{logs, RuntimeConfig};

/// How often a follower looks for more.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The file to read, and the start it belongs to: from the pod's sandbox
/// record, or for a pod run to completion (its sandbox gone), its files.
fn locate(
    cfg: &RuntimeConfig,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<(PathBuf, u32), (StatusCode, String)> {
    let not_here = || {
        (
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} does not exist on this node"),
        )
    };
    let (dir, current) = match sandbox::find(cfg, &format!("{ns}/{pod}")) {
        Ok(rec) => {
            let c: &ContainerRecord = rec.containers.get(container).ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("container {container:?} in pod {pod:?} is not available"),
                )
            })?;
            (logs::container_dir(&cfg.log_dir, &rec.pod, container), c.restarts)
        }
        Err(_) => logs::newest(&cfg.log_dir, ns, pod, container).ok_or_else(not_here)?,
    };
    let start = if previous {
        current.checked_sub(1).ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("previous terminated container {container:?} in pod {pod:?} not found"),
            )
        })?
    } else {
        current
    };
    Ok((logs::start_file(&dir, start), start))
}

/// Whether the container's start `start` still runs (a follower keeps going).
pub(super) fn still_running(cfg: &RuntimeConfig, ns: &str, pod: &str, container: &str, start: u32) -> bool {
    sandbox::find(cfg, &format!("{ns}/{pod}"))
        .ok()
        .and_then(|r| r.containers.get(container).cloned())
        .is_some_and(|c| c.restarts == start && c.process.is_some_and(|p| p.alive()))
}

pub(super) async fn container_logs(
    State(c): State<Conn>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(refused) = c.refuse_unless_apiserver("read logs") {
        return refused;
    }
    let opts = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| LogOptions::from_query(&q, Timestamp::now()))
    {
        Ok(o) => o,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let cfg = c.s.runtime.clone();
    let (pns, ppod, pcont, prev) = (ns.clone(), pod.clone(), container.clone(), opts.previous);
    let found = tokio::task::spawn_blocking(move || locate(&cfg, &pns, &ppod, &pcont, prev)).await;
    let (path, start) = match found {
        Ok(Ok(x)) => x,
        Ok(Err((code, e))) => return refuse_lookup(code, &e),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let data = tokio::fs::read(&path).await.unwrap_or_default();
    let (recs, used) = log_query::whole_records(&data);
    let mut first = log_query::render(&recs, &opts, true);
    let limit = opts
        .limit_bytes
        .map_or(usize::MAX, |l| l.min(usize::MAX as u64) as usize);
    first.truncate(limit);
    let headers = [("content-type", "text/plain")];
    if !opts.follow || first.len() >= limit || opts.previous {
        return (StatusCode::OK, headers, first).into_response();
    }
    let follower = Follower {
        cfg: c.s.runtime.clone(),
        ns,
        pod,
        container,
        path,
        file: None,
        pending: Vec::new(),
        start,
        offset: used as u64,
        left: limit - first.len(),
        opts,
        done: false,
    };
    let rest = futures::stream::unfold(follower, |mut f| async move {
        let chunk = f.next().await?;
        Some((Ok::<_, std::io::Error>(chunk), f))
    });
    let body = Body::from_stream(futures::StreamExt::chain(
        futures::stream::iter([Ok::<_, std::io::Error>(first)]),
        rest,
    ));
    (StatusCode::OK, headers, body).into_response()
}

/// Reads on from `offset` while the container's start runs.
struct Follower {
    cfg: RuntimeConfig,
    ns: String,
    pod: String,
    container: String,
    path: PathBuf,
    /// Kept open: a pod's logs are removed as it is deleted, maybe before
    /// the last lines are read.
    file: Option<tokio::fs::File>,
    /// Read but not yet a whole record.
    pending: Vec<u8>,
    start: u32,
    offset: u64,
    left: usize,
    opts: LogOptions,
    done: bool,
}

impl Follower {
    /// The next non-empty piece of text, None at the end.
    async fn next(&mut self) -> Option<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        while !self.done && self.left > 0 {
            // Checked before reading: what the container wrote before it
            // ended is in the file by then and is still sent.
            let cfg = self.cfg.clone();
            let (ns, pod, c, start) = (
                self.ns.clone(),
                self.pod.clone(),
                self.container.clone(),
                self.start,
            );
            let running = tokio::task::spawn_blocking(move || still_running(&cfg, &ns, &pod, &c, start))
                .await
                .unwrap_or(false);
            if !running {
                // Its log writer may still be writing its last lines.
                tokio::time::sleep(FOLLOW_POLL).await;
            }
            if self.file.is_none() {
                if let Ok(mut f) = tokio::fs::File::open(&self.path).await {
                    if f.seek(std::io::SeekFrom::Start(self.offset)).await.is_ok() {
                        self.file = Some(f);
                    }
                }
            }
            if let Some(f) = &mut self.file {
                let _ = f.read_to_end(&mut self.pending).await;
            }
            let (recs, used) = log_query::whole_records(&self.pending);
            let mut text = log_query::render(&recs, &self.opts, false);
            self.pending.drain(..used);
            text.truncate(self.left);
            self.left -= text.len();
            if !running {
                self.done = true;
            }
            if !text.is_empty() {
                return Some(text);
            }
            if !self.done {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
        None
    }
}
