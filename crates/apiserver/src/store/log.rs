//! The embedded store: objects in memory, every change appended to a JSON-lines
//! log in the data dir, compacted into a snapshot when the log grows. A restart
//! replays snapshot + log, so objects, the revision counter and the recent watch
//! history all survive.

use super::{Event, EventType, ListWatch, Obj, Store, StoreError, WatchStart};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept per resource for watch-from-revision.
pub const HISTORY_PER_RESOURCE: usize = 2000;
const LOG_COMPACT_AFTER: usize = 200_000;
const LIVE_CAPACITY: usize = 1 << 16;

#[derive(Default)]
struct History {
    events: VecDeque<Event>,
    /// Revision of the newest event that fell out of the window (or the
    /// snapshot revision): watching from below it cannot be served.
    compacted: u64,
}

struct Inner {
    objects: HashMap<Arc<str>, BTreeMap<(String, String), Obj>>,
    rv: u64,
    history: HashMap<Arc<str>, History>,
    snapshot_rv: u64,
    log: Option<BufWriter<File>>,
    log_entries: usize,
}

pub struct LogStore {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Event>,
    dir: Option<PathBuf>,
}

fn meta_ns_name(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or("").to_string(),
        m["name"].as_str().unwrap_or("").to_string(),
    )
}

impl LogStore {
    /// A store that keeps nothing on disk (benchmark baselines, unit tests).
    pub fn in_memory() -> Self {
        Self::build(None, Inner::empty())
    }

    /// Open (or create) the store in `dir`, replaying snapshot and log.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut inner = Inner::empty();
        let snap = dir.join("snapshot.json");
        if snap.exists() {
            let f = File::open(&snap).with_context(|| format!("opening {}", snap.display()))?;
            let v: Value = serde_json::from_reader(BufReader::new(f))
                .with_context(|| format!("parsing {}", snap.display()))?;
            inner.rv = v["rv"].as_u64().context("snapshot without rv")?;
            inner.snapshot_rv = inner.rv;
            if let Some(items) = v["objects"].as_array() {
                for it in items {
                    let res: Arc<str> = it["r"].as_str().unwrap_or_default().into();
                    let obj = it["o"].clone();
                    let key = meta_ns_name(&obj);
                    inner.objects.entry(res).or_default().insert(key, Arc::new(obj));
                }
            }
        }
        let logp = dir.join("store.log");
        let mut good_len = 0u64;
        if logp.exists() {
            let f = File::open(&logp).with_context(|| format!("opening {}", logp.display()))?;
            let mut rd = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = rd.read_line(&mut line).context("reading store.log")?;
                if n == 0 || !line.ends_with('\n') {
                    break; // EOF or a torn last write from a crash
                }
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    break;
                };
                good_len += n as u64;
                let rv = v["rv"].as_u64().unwrap_or(0);
                if rv <= inner.snapshot_rv {
                    continue;
                }
                let etype: EventType = serde_json::from_value(v["t"].clone()).context("log event type")?;
                let res: Arc<str> = v["r"].as_str().unwrap_or_default().into();
                let obj = Arc::new(v["o"].clone());
                inner.apply(res, etype, obj, rv);
                inner.log_entries += 1;
            }
            // Drop a torn tail so later appends start on a line boundary.
            let f = OpenOptions::new().write(true).open(&logp)?;
            f.set_len(good_len)?;
        }
        for h in inner.history.values_mut() {
            h.compacted = h.compacted.max(inner.snapshot_rv);
        }
        inner.snapshot_rv_floor();
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logp)
            .with_context(|| format!("opening {} for append", logp.display()))?;
        inner.log = Some(BufWriter::new(f));
        Ok(Self::build(Some(dir.to_path_buf()), inner))
    }

    fn build(dir: Option<PathBuf>, inner: Inner) -> Self {
        let (tx, _) = broadcast::channel(LIVE_CAPACITY);
        Self {
            inner: Mutex::new(inner),
            tx,
            dir,
        }
    }

    fn commit(
        &self,
        inner: &mut Inner,
        res: &str,
        etype: EventType,
        obj: Value,
        prev: Option<Obj>,
    ) -> Result<Obj, StoreError> {
        let rv = inner.rv + 1;
        let mut obj = obj;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        if let Some(log) = inner.log.as_mut() {
            let line = json!({"rv": rv, "t": etype, "r": res, "o": &obj});
            serde_json::to_writer(&mut *log, &line).context("encoding log entry")?;
            log.write_all(b"\n").context("appending to store.log")?;
            log.flush().context("flushing store.log")?;
            inner.log_entries += 1;
        }
        inner.rv = rv;
        let obj = Arc::new(obj);
        let res: Arc<str> = inner
            .objects
            .get_key_value(res)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| res.into());
        let ev = inner.apply_with_prev(res, etype, obj.clone(), rv, prev);
        let _ = self.tx.send(ev);
        if inner.log_entries > LOG_COMPACT_AFTER {
            if let Some(dir) = &self.dir {
                inner.snapshot(dir).map_err(StoreError::Io)?;
            }
        }
        Ok(obj)
    }
}

impl Inner {
    fn empty() -> Self {
        Self {
            objects: HashMap::new(),
            rv: 0,
            history: HashMap::new(),
            snapshot_rv: 0,
            log: None,
            log_entries: 0,
        }
    }

    fn snapshot_rv_floor(&mut self) {
        // Resources with no replayed events still cannot serve revisions
        // older than the snapshot.
        for res in self.objects.keys() {
            let h = self.history.entry(res.clone()).or_default();
            h.compacted = h.compacted.max(self.snapshot_rv);
        }
    }

    fn apply(&mut self, res: Arc<str>, etype: EventType, obj: Obj, rv: u64) {
        let key = meta_ns_name(&obj);
        let prev = self.objects.get(&res).and_then(|m| m.get(&key)).cloned();
        self.rv = self.rv.max(rv);
        self.apply_with_prev(res, etype, obj, rv, prev);
    }

    fn apply_with_prev(
        &mut self,
        res: Arc<str>,
        etype: EventType,
        obj: Obj,
        rv: u64,
        prev: Option<Obj>,
    ) -> Event {
        let key = meta_ns_name(&obj);
        let map = self.objects.entry(res.clone()).or_default();
        match etype {
            EventType::Deleted => {
                map.remove(&key);
            }
            _ => {
                map.insert(key.clone(), obj.clone());
            }
        }
        let ev = Event {
            rv,
            etype,
            resource: res.clone(),
            namespace: key.0,
            object: obj,
            prev,
        };
        let h = self.history.entry(res).or_default();
        h.events.push_back(ev.clone());
        while h.events.len() > HISTORY_PER_RESOURCE {
            if let Some(old) = h.events.pop_front() {
                h.compacted = old.rv;
            }
        }
        ev
    }

    fn snapshot(&mut self, dir: &Path) -> anyhow::Result<()> {
        let tmp = dir.join("snapshot.json.tmp");
        {
            let mut w =
                BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
            write!(w, "{{\"rv\":{},\"objects\":[", self.rv)?;
            let mut first = true;
            for (res, map) in &self.objects {
                for obj in map.values() {
                    if !first {
                        w.write_all(b",")?;
                    }
                    first = false;
                    serde_json::to_writer(&mut w, &json!({"r": &**res, "o": &**obj}))?;
                }
            }
            w.write_all(b"]}")?;
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, dir.join("snapshot.json")).context("installing snapshot")?;
        let f = File::create(dir.join("store.log")).context("truncating store.log")?;
        self.log = Some(BufWriter::new(f));
        self.log_entries = 0;
        self.snapshot_rv = self.rv;
        Ok(())
    }
}

impl Store for LogStore {
    fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Obj> {
        let g = self.inner.lock().unwrap();
        g.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    fn list(&self, resource: &str, ns: Option<&str>) -> (Vec<Obj>, u64) {
        let g = self.inner.lock().unwrap();
        (collect(&g, resource, ns), g.rv)
    }

    fn create(&self, resource: &str, ns: &str, name: &str, obj: Value) -> Result<Obj, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let key = (ns.to_string(), name.to_string());
        if g.objects.get(resource).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        self.commit(&mut g, resource, EventType::Added, obj, None)
    }

    fn update(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let key = (ns.to_string(), name.to_string());
        let cur = g
            .objects
            .get(resource)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let cur_rv = super::object_rv(&cur).unwrap_or(0);
        if let Some(want) = expected_rv {
            if want != cur_rv {
                return Err(StoreError::Conflict { current: cur_rv });
            }
        }
        self.commit(&mut g, resource, EventType::Modified, obj, Some(cur))
    }

    fn delete(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let key = (ns.to_string(), name.to_string());
        let cur = g
            .objects
            .get(resource)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let cur_rv = super::object_rv(&cur).unwrap_or(0);
        if let Some(want) = expected_rv {
            if want != cur_rv {
                return Err(StoreError::Conflict { current: cur_rv });
            }
        }
        self.commit(&mut g, resource, EventType::Deleted, (*cur).clone(), Some(cur))
    }

    fn watch(&self, resource: &str, since: u64) -> Result<WatchStart, StoreError> {
        let g = self.inner.lock().unwrap();
        let live = self.tx.subscribe();
        let (compacted, events) = match g.history.get(resource) {
            Some(h) => (h.compacted, Some(&h.events)),
            None => (g.snapshot_rv, None),
        };
        if since < compacted && since < g.rv {
            return Err(StoreError::TooOld {
                requested: since,
                oldest: compacted,
            });
        }
        let backlog = events
            .map(|e| e.iter().filter(|e| e.rv > since).cloned().collect())
            .unwrap_or_default();
        Ok(WatchStart { backlog, live })
    }

    fn list_watch(&self, resource: &str, ns: Option<&str>) -> ListWatch {
        let g = self.inner.lock().unwrap();
        ListWatch {
            items: collect(&g, resource, ns),
            rv: g.rv,
            live: self.tx.subscribe(),
        }
    }

    fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }
}

fn collect(g: &Inner, resource: &str, ns: Option<&str>) -> Vec<Obj> {
    let Some(m) = g.objects.get(resource) else {
        return Vec::new();
    };
    match ns {
        None => m.values().cloned().collect(),
        Some(ns) => m
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
    }
}
