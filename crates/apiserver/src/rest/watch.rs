//! Watch: a chunked stream of JSON events with resourceVersion semantics. An
//! unset or "0" resourceVersion starts with the current objects as ADDED; a
//! given one replays the history after it, or sends one ERROR event with a 410
//! Expired Status when it is older than the history window.

use super::ctx::Ctx;
use super::select::Selector;
use super::status::{ApiError, ApiResult};
use super::table;
use crate::resources::ResourceDef;
use crate::state::AppState;
use crate::store::{Event, EventType, Obj, StoreError, Stored};
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

struct Watcher {
    res: &'static ResourceDef,
    key: String,
    ns: Option<String>,
    sel: Selector,
    table: bool,
    include: String,
    first: bool,
    last_rv: u64,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

impl Watcher {
    /// An event of the server's own (a bookmark, an error).
    async fn send(&mut self, etype: &str, obj: &Value) -> bool {
        let Ok(text) = serde_json::to_vec(obj) else {
            return true;
        };
        self.send_line(etype, &text).await
    }

    /// An event about a stored object: the envelope is written around its
    /// stored bytes (every event goes to every watcher of its resource, and
    /// encoding it again per watcher per event was the cost of a watch).
    async fn send_stored(&mut self, etype: &str, obj: &Stored) -> bool {
        if self.table {
            let t = table::table(self.res, &[&obj.parse()], None, &self.include, self.first);
            self.first = false;
            return self.send(etype, &t).await;
        }
        self.send_line(etype, obj.json()).await
    }

    async fn send_line(&mut self, etype: &str, obj: &[u8]) -> bool {
        let mut line = Vec::with_capacity(obj.len() + 32);
        line.extend_from_slice(b"{\"type\":");
        let _ = serde_json::to_writer(&mut line, etype);
        line.extend_from_slice(b",\"object\":");
        line.extend_from_slice(obj);
        line.extend_from_slice(b"}\n");
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }

    fn in_scope(&self, ev: &Event) -> bool {
        *ev.resource == self.key && self.ns.as_ref().is_none_or(|n| *n == ev.namespace)
    }

    /// Translate one store event through the selector, as the real server does
    /// (an object that stops matching is DELETED for this watcher).
    async fn event(&mut self, ev: &Event) -> bool {
        if ev.rv <= self.last_rv || !self.in_scope(ev) {
            return true;
        }
        self.last_rv = ev.rv;
        let now = self.sel.matches_stored(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.sel.matches_stored(p));
        let etype = match ev.etype {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return true,
        };
        self.send_stored(etype, &ev.object).await
    }

    async fn bookmark(&mut self, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta});
        self.send("BOOKMARK", &obj).await
    }
}

pub fn watch(st: Arc<AppState>, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let sel = Selector::parse(ctx.q("labelSelector"), ctx.q("fieldSelector"))?;
    let rv = ctx.q("resourceVersion").unwrap_or("").to_string();
    let send_initial = ctx.flag("sendInitialEvents");
    let bookmarks = ctx.flag("allowWatchBookmarks");
    let timeout = ctx
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let key = res.key();
    let ns = ctx.target.ns.clone();

    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let mut w = Watcher {
        res,
        key: key.clone(),
        ns: ns.clone(),
        sel,
        table: table::wants_table(&ctx.accept),
        include: ctx.include_object(),
        first: true,
        last_rv: 0,
        tx,
    };

    let (initial, backlog, live): (Vec<Obj>, Vec<Event>, broadcast::Receiver<Event>) =
        if rv.is_empty() || rv == "0" || send_initial {
            let lw = st.store.list_watch(&key, ns.as_deref());
            w.last_rv = lw.rv;
            (lw.items, Vec::new(), lw.live)
        } else {
            let since: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
            match st.store.watch(&key, since) {
                Ok(ws) => {
                    w.last_rv = since;
                    (Vec::new(), ws.backlog, ws.live)
                }
                Err(StoreError::TooOld { requested, oldest }) => {
                    let status = ApiError::gone(requested, oldest).to_status();
                    let mut line =
                        serde_json::to_vec(&json!({"type": "ERROR", "object": status})).unwrap_or_default();
                    line.push(b'\n');
                    return Ok(stream_response(Body::from(line)));
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
        };

    tokio::spawn(async move {
        let mut live = live;
        for o in &initial {
            if w.sel.matches_stored(o) && !w.send_stored("ADDED", o).await {
                return;
            }
        }
        if send_initial && !w.bookmark(true).await {
            return;
        }
        for ev in &backlog {
            if !w.event(ev).await {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = live.recv() => match r {
                    Ok(ev) => if !w.event(&ev).await { return },
                    // Fell behind the live feed: end the stream; the client
                    // resumes from the last revision it saw.
                    Err(_) => return,
                },
                _ = tick.tick() => if bookmarks && !w.bookmark(false).await { return },
                _ = w.tx.closed() => return,
                _ = until_deadline => return,
            }
        }
    });
    Ok(stream_response(lines_body(rx)))
}

/// A chunk of the body takes the lines already queued up to this size.
const CHUNK: usize = 64 * 1024;

/// The watch's body: each poll takes every line already queued (up to
/// CHUNK bytes) as one chunk. The events of a burst then go out as one
/// HTTP/2 DATA frame and one write to the socket, and reach the client as
/// one read, instead of one each (a 100-pod burst made ~1,100 watch writes
/// in the API server, each a TCP segment through both nodes' netfilter).
/// Lines are never split or held back: a lone event goes out at once.
fn lines_body(mut rx: mpsc::Receiver<Result<Bytes, Infallible>>) -> Body {
    let stream = futures::stream::poll_fn(move |cx| {
        let first = match rx.poll_recv(cx) {
            std::task::Poll::Ready(Some(Ok(line))) => line,
            other => return other,
        };
        let Ok(Ok(mut next)) = rx.try_recv() else {
            return std::task::Poll::Ready(Some(Ok(first)));
        };
        let mut chunk = Vec::with_capacity(first.len() + next.len());
        chunk.extend_from_slice(&first);
        loop {
            chunk.extend_from_slice(&next);
            if chunk.len() >= CHUNK {
                break;
            }
            match rx.try_recv() {
                Ok(Ok(line)) => next = line,
                _ => break,
            }
        }
        std::task::Poll::Ready(Some(Ok(Bytes::from(chunk))))
    });
    Body::from_stream(stream)
}

fn stream_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_line_is_the_envelope_around_the_stored_object() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut w = Watcher {
            res: crate::resources::find("", "v1", "pods").unwrap(),
            key: String::new(),
            ns: None,
            sel: Selector::parse(None, None).unwrap(),
            table: false,
            include: String::new(),
            first: true,
            last_rv: 0,
            tx,
        };
        let pod = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "a \"quoted\" name", "namespace": "n", "resourceVersion": "7"},
            "status": {"phase": "Running"}});
        let stored = Stored::new(&pod);
        assert!(w.send_stored("MODIFIED", &stored).await);
        let line = rx.recv().await.unwrap().unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let ev: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(ev, json!({"type": "MODIFIED", "object": pod}));
        let text = format!(
            r#"{{"type":"MODIFIED","object":{}}}"#,
            String::from_utf8_lossy(stored.json())
        );
        assert_eq!(
            &line[..line.len() - 1],
            text.as_bytes(),
            "the stored bytes, unchanged"
        );
        assert!(!stored.is_parsed());
    }

    #[tokio::test]
    async fn lines_already_queued_go_out_as_one_chunk_and_a_lone_one_at_once() {
        use http_body_util::BodyExt;
        let (tx, rx) = mpsc::channel(8);
        let mut body = lines_body(rx);
        for i in 0..3 {
            tx.send(Ok(Bytes::from(format!("{{\"n\":{i}}}\n"))))
                .await
                .unwrap();
        }
        let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&chunk[..], b"{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
        tx.send(Ok(Bytes::from_static(b"{\"n\":3}\n"))).await.unwrap();
        let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&chunk[..], b"{\"n\":3}\n");
        // Past CHUNK bytes the rest waits for the next chunk, whole lines.
        let big = Bytes::from(vec![b'x'; CHUNK]);
        tx.send(Ok(big.clone())).await.unwrap();
        tx.send(Ok(big.clone())).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"end\n"))).await.unwrap();
        let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(
            chunk.len(),
            2 * CHUNK,
            "the first line, then one more past the size"
        );
        let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&chunk[..], b"end\n");
        drop(tx);
        assert!(body.frame().await.is_none());
    }
}
