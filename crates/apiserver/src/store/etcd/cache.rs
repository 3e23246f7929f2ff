//! The watch cache, as kube-apiserver's cacher: one list of everything under
//! /registry/, then one etcd watch from the revision of that list, applied to
//! an in-memory copy that serves every get, list and watch. A broken watch
//! is resumed from the last revision seen; a resume etcd has compacted away
//! lists everything again, and the watchers of the old copy are ended (they
//! resume from their revision and, being older than the new list, get 410).

use super::client::{Client, EtcdError, Kv, WatchEnd, WatchEvent};
use super::keys;
use crate::store::memory::Memory;
use crate::store::{Event, EventType, ListWatch, Obj, StoreError, Stored, WatchStart};
use serde_json::Value;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

const LIVE_CAPACITY: usize = 1 << 16;
/// Keys per page of the initial list.
const LIST_PAGE: u64 = 5000;
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

struct State {
    mem: Memory,
    tx: broadcast::Sender<Event>,
    /// A list has been loaded (reads are served).
    listed: bool,
    /// Why the last list or watch failed, while it keeps failing.
    trouble: Option<String>,
}

pub struct Cache {
    state: Mutex<State>,
    /// Signalled whenever the revision moves or a list lands.
    moved: Condvar,
}

/// An object as stored in etcd, with its revision put in place.
fn decode(kv: &Kv, rv: u64) -> Option<Obj> {
    let mut v: Value = match serde_json::from_slice(&kv.value) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(key = %kv.key, "etcd value is not JSON ({e}); left out of the cache");
            return None;
        }
    };
    let m = v.get_mut("metadata")?.as_object_mut()?;
    m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    Some(Arc::new(Stored::new(&v)))
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                mem: Memory::default(),
                tx: broadcast::channel(LIVE_CAPACITY).0,
                listed: false,
                trouble: None,
            }),
            moved: Condvar::new(),
        }
    }
}

impl Cache {
    /// Replace everything with a fresh list taken at `rev`.
    fn reset(&self, kvs: Vec<Kv>, rev: u64) {
        let mut mem = Memory::at(rev);
        for kv in &kvs {
            let Some((res, _, _)) = keys::parse(&kv.key) else {
                continue;
            };
            if let Some(obj) = decode(kv, kv.mod_revision) {
                mem.load(&res, obj);
            }
        }
        let mut g = self.state.lock().unwrap();
        if g.listed {
            tracing::warn!(
                rev,
                "etcd watch could not resume (compacted): listed again; open watches end"
            );
        }
        g.mem = mem;
        // Dropping the old sender ends every live watch of the old copy.
        g.tx = broadcast::channel(LIVE_CAPACITY).0;
        g.listed = true;
        g.trouble = None;
        drop(g);
        self.moved.notify_all();
    }

    fn apply(&self, events: Vec<WatchEvent>) {
        let mut g = self.state.lock().unwrap();
        for ev in events {
            let rev = ev.kv.mod_revision;
            let Some((res, ns, name)) = keys::parse(&ev.kv.key) else {
                g.mem.rv = g.mem.rv.max(rev);
                continue;
            };
            let prev = ev.prev.as_ref().and_then(|p| decode(p, p.mod_revision));
            let (etype, obj) = if ev.delete {
                // The deleted object as it was, at the revision of its deletion.
                let last = prev.clone().or_else(|| g.mem.get(&res, &ns, &name));
                let Some(last) = last else {
                    g.mem.rv = g.mem.rv.max(rev);
                    continue;
                };
                let mut o = last.parse();
                o["metadata"]["resourceVersion"] = Value::String(rev.to_string());
                (EventType::Deleted, Arc::new(Stored::new(&o)))
            } else {
                let Some(obj) = decode(&ev.kv, rev) else {
                    g.mem.rv = g.mem.rv.max(rev);
                    continue;
                };
                let etype = if ev.kv.create_revision == rev {
                    EventType::Added
                } else {
                    EventType::Modified
                };
                (etype, obj)
            };
            let event = g.mem.apply(&res, etype, obj, rev, prev);
            let _ = g.tx.send(event);
        }
        drop(g);
        self.moved.notify_all();
    }

    fn trouble(&self, why: String) {
        self.state.lock().unwrap().trouble = Some(why);
    }

    /// Until the cache holds revision `rev`, at most `limit`; whether it does.
    pub fn wait_for(&self, rev: u64, limit: Duration) -> bool {
        let g = self.state.lock().unwrap();
        let (g, _) = self
            .moved
            .wait_timeout_while(g, limit, |s| s.mem.rv < rev)
            .unwrap();
        g.mem.rv >= rev
    }

    /// Until the first list has landed, at most `limit`; Err names why not.
    pub fn wait_listed(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut g = self.state.lock().unwrap();
        while !g.listed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(g.trouble.clone().unwrap_or_else(|| "no answer".into()));
            }
            // Wake now and then: trouble is recorded without a signal.
            g = self
                .moved
                .wait_timeout(g, left.min(Duration::from_millis(200)))
                .unwrap()
                .0;
        }
        Ok(())
    }

    pub fn get(&self, res: &str, ns: &str, name: &str) -> Option<Obj> {
        self.state.lock().unwrap().mem.get(res, ns, name)
    }

    pub fn list(&self, res: &str, ns: Option<&str>) -> (Vec<Obj>, u64) {
        let g = self.state.lock().unwrap();
        (g.mem.collect(res, ns), g.mem.rv)
    }

    pub fn rv(&self) -> u64 {
        self.state.lock().unwrap().mem.rv
    }

    pub fn watch(&self, res: &str, since: u64) -> Result<WatchStart, StoreError> {
        let g = self.state.lock().unwrap();
        let live = g.tx.subscribe();
        let backlog = g.mem.backlog(res, since)?;
        Ok(WatchStart { backlog, live })
    }

    pub fn list_watch(&self, res: &str, ns: Option<&str>) -> ListWatch {
        let g = self.state.lock().unwrap();
        ListWatch {
            items: g.mem.collect(res, ns),
            rv: g.mem.rv,
            live: g.tx.subscribe(),
        }
    }

    /// Keep the cache fed for as long as the runtime runs: list, watch,
    /// resume, list again when the resume is compacted.
    pub async fn feed(self: Arc<Self>, client: Arc<Client>) {
        let mut wait = RETRY_FIRST;
        loop {
            match list_all(&client).await {
                Ok((kvs, rev)) => self.reset(kvs, rev),
                Err(e) => {
                    self.trouble(e.to_string());
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                    continue;
                }
            }
            wait = RETRY_FIRST;
            loop {
                let from = self.rv() + 1;
                let started = Instant::now();
                let cache = self.clone();
                match client.watch(keys::ROOT, from, move |evs| cache.apply(evs)).await {
                    WatchEnd::Compacted => break,
                    WatchEnd::Broken(why) => {
                        tracing::warn!(%why, from, "etcd watch broke; resuming");
                        self.trouble(why);
                        // A watch that ran a while was healthy: resume soon.
                        if started.elapsed() > RETRY_MAX {
                            wait = RETRY_FIRST;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(RETRY_MAX);
                    }
                }
            }
        }
    }
}

/// Everything under /registry/ at one revision, page by page.
async fn list_all(client: &Client) -> Result<(Vec<Kv>, u64), EtcdError> {
    let end = keys::range_end(keys::ROOT);
    let mut all = Vec::new();
    let mut from = keys::ROOT.to_string();
    let mut rev = 0;
    loop {
        let (kvs, header, more) = client
            .range(&from, Some(&end), rev, LIST_PAGE, super::client::REQUEST_TIMEOUT)
            .await?;
        if rev == 0 {
            rev = header;
        }
        let last = kvs.last().map(|kv| kv.key.clone());
        all.extend(kvs);
        match (more, last) {
            (true, Some(last)) => from = format!("{last}\0"),
            _ => return Ok((all, rev)),
        }
    }
}
