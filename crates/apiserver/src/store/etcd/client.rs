//! A client of etcd's v3 API through its JSON gateway (`/v3/kv/range`,
//! `/v3/kv/txn`, `/v3/watch`), which every etcd 3.4 serves on its client
//! port. Over the hyper client the server already links, so it needs no
//! gRPC stack and no protoc at build time. Keys and values travel base64 as
//! proto3's JSON mapping has it; 64-bit numbers travel as strings, and fields
//! equal to their default (0, false, PUT) are left out.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one unary call may take: a stopped etcd fails writes within
/// this, never stalls them.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub enum EtcdError {
    /// No member answered (down, or without quorum); `String` says which
    /// endpoints were tried and why.
    Unreachable(String),
    /// The revision asked for was compacted away.
    Compacted { compact_revision: u64 },
    /// etcd answered with an error.
    Failed(String),
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EtcdError::Unreachable(m) => write!(f, "etcd unavailable: {m}"),
            EtcdError::Compacted { compact_revision } => {
                write!(
                    f,
                    "etcd: required revision has been compacted (at {compact_revision})"
                )
            }
            EtcdError::Failed(m) => write!(f, "etcd: {m}"),
        }
    }
}

/// One key-value as etcd holds it.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: u64,
    pub mod_revision: u64,
}

/// One change from a watch.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub delete: bool,
    pub kv: Kv,
    pub prev: Option<Kv>,
}

/// How a watch stream ended.
#[derive(Debug)]
pub enum WatchEnd {
    /// The start revision is compacted: the caller must list again.
    Compacted,
    /// The connection broke or etcd went away: watch again from where it was.
    Broken(String),
}

pub struct Client {
    endpoints: Vec<String>,
    /// The endpoint that answered last: tried first.
    current: AtomicUsize,
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

/// The header revision of a response.
pub fn header_revision(resp: &Value) -> u64 {
    num(&resp["header"]["revision"])
}

pub fn decode_kv(v: &Value) -> Option<Kv> {
    let key = B64.decode(v["key"].as_str()?).ok()?;
    let value = match v["value"].as_str() {
        Some(s) => B64.decode(s).ok()?,
        None => Vec::new(),
    };
    Some(Kv {
        key: String::from_utf8(key).ok()?,
        value,
        create_revision: num(&v["create_revision"]),
        mod_revision: num(&v["mod_revision"]),
    })
}

/// A txn compare on one key: `target` CREATE or MOD, `result` EQUAL or GREATER.
pub fn compare(key: &str, target: &str, result: &str, revision: u64) -> Value {
    let field = if target == "CREATE" {
        "create_revision"
    } else {
        "mod_revision"
    };
    json!({"key": b64(key.as_bytes()), "target": target, "result": result, field: revision.to_string()})
}

pub fn put_op(key: &str, value: &[u8]) -> Value {
    json!({"request_put": {"key": b64(key.as_bytes()), "value": b64(value)}})
}

pub fn delete_op(key: &str) -> Value {
    json!({"request_delete_range": {"key": b64(key.as_bytes()), "prev_kv": true}})
}

pub fn get_op(key: &str) -> Value {
    json!({"request_range": {"key": b64(key.as_bytes())}})
}

impl Client {
    /// `endpoints` as kube-apiserver's --etcd-servers: http://host:port, …
    pub fn new(endpoints: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(!endpoints.is_empty(), "--etcd-servers: no etcd endpoint given");
        let mut eps = Vec::new();
        for e in endpoints {
            let e = e.trim().trim_end_matches('/');
            let rest = e.strip_prefix("http://").ok_or_else(|| {
                anyhow::anyhow!("--etcd-servers: {e:?} is not an http:// URL (TLS to etcd is not supported)")
            })?;
            anyhow::ensure!(
                !rest.is_empty() && !rest.contains('/'),
                "--etcd-servers: {e:?} must be http://host:port"
            );
            eps.push(e.to_string());
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(CONNECT_TIMEOUT));
        conn.set_nodelay(true);
        Ok(Self {
            endpoints: eps,
            current: AtomicUsize::new(0),
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(conn),
        })
    }

    pub fn endpoints(&self) -> String {
        self.endpoints.join(",")
    }

    fn request(&self, endpoint: &str, path: &str, body: &Value) -> hyper::Request<Full<Bytes>> {
        hyper::Request::post(format!("{endpoint}{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("valid request")
    }

    /// Send to the endpoints in turn, starting with the one that answered
    /// last; only a refused connection moves on (a request that may have
    /// reached etcd is never sent twice).
    async fn send(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<hyper::Response<hyper::body::Incoming>, EtcdError> {
        let n = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut why = Vec::new();
        for i in 0..n {
            let idx = (first + i) % n;
            let ep = &self.endpoints[idx];
            match tokio::time::timeout(timeout, self.http.request(self.request(ep, path, body))).await {
                Ok(Ok(resp)) => {
                    self.current.store(idx, Ordering::Relaxed);
                    return Ok(resp);
                }
                Ok(Err(e)) if e.is_connect() => why.push(format!("{ep}: {}", root_cause(&e))),
                Ok(Err(e)) => return Err(EtcdError::Unreachable(format!("{ep}: {}", root_cause(&e)))),
                Err(_) => {
                    return Err(EtcdError::Unreachable(format!(
                        "{ep}: no answer within {} s",
                        timeout.as_secs()
                    )))
                }
            }
        }
        Err(EtcdError::Unreachable(why.join("; ")))
    }

    /// One unary call; its JSON answer.
    pub async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        self.call_within(path, body, REQUEST_TIMEOUT).await
    }

    pub async fn call_within(&self, path: &str, body: Value, timeout: Duration) -> Result<Value, EtcdError> {
        let resp = self.send(path, &body, timeout).await?;
        let status = resp.status();
        let bytes = tokio::time::timeout(timeout, resp.into_body().collect())
            .await
            .map_err(|_| {
                EtcdError::Unreachable(format!("{path}: answer cut off after {} s", timeout.as_secs()))
            })?
            .map_err(|e| EtcdError::Unreachable(format!("{path}: {e}")))?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| EtcdError::Failed(format!("{path}: answer is not JSON ({e})")))?;
        if status.is_success() {
            return Ok(v);
        }
        Err(grpc_error(&v))
    }

    /// Keys in [key, range_end) (or `key` alone), at `revision` (0: now), at
    /// most `limit` (0: all). Returns the kvs, the header revision and
    /// whether more remain.
    pub async fn range(
        &self,
        key: &str,
        range_end: Option<&[u8]>,
        revision: u64,
        limit: u64,
        timeout: Duration,
    ) -> Result<(Vec<Kv>, u64, bool), EtcdError> {
        let mut body = json!({"key": b64(key.as_bytes())});
        if let Some(end) = range_end {
            body["range_end"] = json!(b64(end));
        }
        if revision > 0 {
            body["revision"] = json!(revision.to_string());
        }
        if limit > 0 {
            body["limit"] = json!(limit.to_string());
        }
        let v = self.call_within("/v3/kv/range", body, timeout).await?;
        let kvs = v["kvs"]
            .as_array()
            .map(|a| a.iter().filter_map(decode_kv).collect())
            .unwrap_or_default();
        Ok((kvs, header_revision(&v), v["more"].as_bool().unwrap_or(false)))
    }

    /// A transaction; (succeeded, revision, responses).
    pub async fn txn(
        &self,
        compare: Vec<Value>,
        success: Vec<Value>,
        failure: Vec<Value>,
    ) -> Result<(bool, u64, Value), EtcdError> {
        let v = self
            .call(
                "/v3/kv/txn",
                json!({"compare": compare, "success": success, "failure": failure}),
            )
            .await?;
        Ok((
            v["succeeded"].as_bool().unwrap_or(false),
            header_revision(&v),
            v["responses"].clone(),
        ))
    }

    /// Watch every key under `prefix` from `start_revision`, handing each
    /// batch of events to `on_events`, until the stream ends.
    pub async fn watch(
        &self,
        prefix: &str,
        start_revision: u64,
        mut on_events: impl FnMut(Vec<WatchEvent>),
    ) -> WatchEnd {
        let body = json!({"create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&super::keys::range_end(prefix)),
            "start_revision": start_revision.to_string(),
            "prev_kv": true,
        }});
        let resp = match self.send("/v3/watch", &body, REQUEST_TIMEOUT).await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return WatchEnd::Broken(format!("watch answered HTTP {}", r.status())),
            Err(e) => return WatchEnd::Broken(e.to_string()),
        };
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let frame = match body.frame().await {
                Some(Ok(f)) => f,
                Some(Err(e)) => return WatchEnd::Broken(format!("watch stream: {e}")),
                None => return WatchEnd::Broken("watch stream ended".into()),
            };
            let Ok(data) = frame.into_data() else { continue };
            buf.extend_from_slice(&data);
            // The gateway writes one JSON message after another; a frame
            // may end inside one.
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut used = 0;
            loop {
                match it.next() {
                    Some(Ok(msg)) => {
                        used = it.byte_offset();
                        if let Some(end) = self.on_message(&msg, &mut on_events) {
                            return end;
                        }
                    }
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(e)) => return WatchEnd::Broken(format!("watch stream is not JSON: {e}")),
                    None => break,
                }
            }
            buf.drain(..used);
        }
    }

    fn on_message(&self, msg: &Value, on_events: &mut impl FnMut(Vec<WatchEvent>)) -> Option<WatchEnd> {
        if msg.get("error").is_some() {
            return Some(WatchEnd::Broken(grpc_error(msg).to_string()));
        }
        let r = &msg["result"];
        if num(&r["compact_revision"]) > 0 {
            return Some(WatchEnd::Compacted);
        }
        if r["canceled"].as_bool().unwrap_or(false) {
            let why = r["cancel_reason"].as_str().unwrap_or("no reason given");
            return Some(WatchEnd::Broken(format!("etcd canceled the watch: {why}")));
        }
        let events: Vec<WatchEvent> = r["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some(WatchEvent {
                            delete: e["type"].as_str() == Some("DELETE"),
                            kv: decode_kv(&e["kv"])?,
                            prev: decode_kv(&e["prev_kv"]),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !events.is_empty() {
            on_events(events);
        }
        None
    }
}

/// The innermost error's text ("Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The gateway's error body: {"error", "message", "code"} with gRPC codes.
fn grpc_error(v: &Value) -> EtcdError {
    let msg = v["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
        .or_else(|| v["error"]["message"].as_str())
        .unwrap_or("unknown error")
        .to_string();
    let code = v["code"]
        .as_u64()
        .or_else(|| v["error"]["grpc_code"].as_u64())
        .unwrap_or(0);
    if msg.contains("compacted") {
        return EtcdError::Compacted { compact_revision: 0 };
    }
    // 4 DeadlineExceeded, 14 Unavailable: no quorum, leader lost, stopping.
    if code == 4 || code == 14 || msg.contains("timed out") || msg.contains("no leader") {
        return EtcdError::Unreachable(msg);
    }
    EtcdError::Failed(msg)
}
