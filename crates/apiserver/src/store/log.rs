//! The embedded store: objects in memory, every change appended to a JSON-lines
//! log in the data dir, compacted into a snapshot when the log grows. A restart
//! replays snapshot + log, so objects, the revision counter and the recent watch
//! history all survive.

use super::memory::Memory;
use super::{Event, EventType, ListWatch, Obj, Store, StoreError, Stored, WatchStart};
use anyhow::Context;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub use super::memory::HISTORY_PER_RESOURCE;
const LOG_COMPACT_AFTER: usize = 200_000;
const LIVE_CAPACITY: usize = 1 << 16;

struct Inner {
    mem: Memory,
    snapshot_rv: u64,
    log: Option<BufWriter<File>>,
    log_entries: usize,
}

pub struct LogStore {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Event>,
    dir: Option<PathBuf>,
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
            inner.mem.rv = v["rv"].as_u64().context("snapshot without rv")?;
            inner.snapshot_rv = inner.mem.rv;
            if let Some(items) = v["objects"].as_array() {
                for it in items {
                    let res = it["r"].as_str().unwrap_or_default();
                    inner.mem.load(res, Arc::new(Stored::new(&it["o"])));
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
                let res = v["r"].as_str().unwrap_or_default();
                inner
                    .mem
                    .apply(res, etype, Arc::new(Stored::new(&v["o"])), rv, None);
                inner.log_entries += 1;
            }
            // Drop a torn tail so later appends start on a line boundary.
            let f = OpenOptions::new().write(true).open(&logp)?;
            f.set_len(good_len)?;
        }
        // History from before the snapshot is gone.
        inner.mem.floor = inner.snapshot_rv;
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
        let rv = inner.mem.rv + 1;
        let mut obj = obj;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(Stored::new(&obj));
        if let Some(log) = inner.log.as_mut() {
            // The entry is written around the object's stored bytes: the
            // object is encoded once, for the log and for every reader.
            let head = json!({"rv": rv, "t": etype, "r": res}).to_string();
            let line = log_line(&head, obj.json());
            log.write_all(&line).context("appending to store.log")?;
            log.flush().context("flushing store.log")?;
            inner.log_entries += 1;
        }
        let ev = inner.mem.apply(res, etype, obj.clone(), rv, prev);
        let _ = self.tx.send(ev);
        if inner.log_entries > LOG_COMPACT_AFTER {
            if let Some(dir) = &self.dir {
                inner.snapshot(dir).map_err(StoreError::Io)?;
            }
        }
        Ok(obj)
    }

    /// The stored object and its revision, checked against `expected_rv`.
    fn current(
        inner: &Inner,
        res: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        let cur = inner.mem.get(res, ns, name).ok_or(StoreError::NotFound)?;
        let cur_rv = cur.rv();
        match expected_rv {
            Some(want) if want != cur_rv => Err(StoreError::Conflict { current: cur_rv }),
            _ => Ok(cur),
        }
    }
}

impl Inner {
    fn empty() -> Self {
        Self {
            mem: Memory::default(),
            snapshot_rv: 0,
            log: None,
            log_entries: 0,
        }
    }

    fn snapshot(&mut self, dir: &Path) -> anyhow::Result<()> {
        let tmp = dir.join("snapshot.json.tmp");
        {
            let mut w =
                BufWriter::new(File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
            write!(w, "{{\"rv\":{},\"objects\":[", self.mem.rv)?;
            let mut first = true;
            for (res, obj) in self.mem.all() {
                if !first {
                    w.write_all(b",")?;
                }
                first = false;
                let head = json!({ "r": res }).to_string();
                let entry = log_line(&head, obj.json());
                w.write_all(&entry[..entry.len() - 1])?;
            }
            w.write_all(b"]}")?;
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, dir.join("snapshot.json")).context("installing snapshot")?;
        let f = File::create(dir.join("store.log")).context("truncating store.log")?;
        self.log = Some(BufWriter::new(f));
        self.log_entries = 0;
        self.snapshot_rv = self.mem.rv;
        Ok(())
    }
}

/// `head` (a JSON object's text) with `"o":` + `obj` added as its last
/// member, and a newline: `{"rv":1,"t":"ADDED","r":"pods","o":{…}}`.
fn log_line(head: &str, obj: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(head.len() + obj.len() + 8);
    line.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    line.extend_from_slice(b",\"o\":");
    line.extend_from_slice(obj);
    line.extend_from_slice(b"}\n");
    line
}

impl Store for LogStore {
    fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Obj> {
        self.inner.lock().unwrap().mem.get(resource, ns, name)
    }

    fn list(&self, resource: &str, ns: Option<&str>) -> (Vec<Obj>, u64) {
        let g = self.inner.lock().unwrap();
        (g.mem.collect(resource, ns), g.mem.rv)
    }

    fn create(&self, resource: &str, ns: &str, name: &str, obj: Value) -> Result<Obj, StoreError> {
        let mut g = self.inner.lock().unwrap();
        if g.mem.get(resource, ns, name).is_some() {
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
        let cur = Self::current(&g, resource, ns, name, expected_rv)?;
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
        let cur = Self::current(&g, resource, ns, name, expected_rv)?;
        self.commit(&mut g, resource, EventType::Deleted, cur.parse(), Some(cur))
    }

    fn watch(&self, resource: &str, since: u64) -> Result<WatchStart, StoreError> {
        let g = self.inner.lock().unwrap();
        let live = self.tx.subscribe();
        let backlog = g.mem.backlog(resource, since)?;
        Ok(WatchStart { backlog, live })
    }

    fn list_watch(&self, resource: &str, ns: Option<&str>) -> ListWatch {
        let g = self.inner.lock().unwrap();
        ListWatch {
            items: g.mem.collect(resource, ns),
            rv: g.mem.rv,
            live: self.tx.subscribe(),
        }
    }

    fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().mem.rv
    }
}
