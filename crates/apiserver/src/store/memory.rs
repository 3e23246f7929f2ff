//! Objects and recent history held in memory, as both backends serve reads
//! and watches: the embedded store keeps its whole state here (and a log on
//! disk), the etcd store keeps its watch cache here (fed by an etcd watch).
//! The revision of every change is given by the caller: the log's counter or
//! etcd's modification revision.

use super::{Event, EventType, Obj, StoreError};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Events kept per resource for watch-from-revision.
pub const HISTORY_PER_RESOURCE: usize = 2000;

#[derive(Default)]
struct History {
    events: VecDeque<Event>,
    /// Revision of the newest event that fell out of the window: watching
    /// from below it cannot be served.
    compacted: u64,
}

#[derive(Default)]
pub struct Memory {
    objects: HashMap<Arc<str>, BTreeMap<(String, String), Obj>>,
    history: HashMap<Arc<str>, History>,
    /// The newest revision applied.
    pub rv: u64,
    /// No history older than this exists (a snapshot replayed, or the
    /// revision a cache listed at): watches from below it are too old.
    pub floor: u64,
}

/// (namespace, name) of a stored object.
fn meta_ns_name(obj: &Obj) -> (String, String) {
    (obj.namespace().to_string(), obj.name().to_string())
}

impl Memory {
    /// Empty, holding revision `rv` and no history before it.
    pub fn at(rv: u64) -> Self {
        Self {
            rv,
            floor: rv,
            ..Default::default()
        }
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Obj> {
        self.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a resource, of one namespace or of all.
    pub fn collect(&self, resource: &str, ns: Option<&str>) -> Vec<Obj> {
        let Some(m) = self.objects.get(resource) else {
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

    /// Put an object in place (no event, no history): loading a snapshot or
    /// a list.
    pub fn load(&mut self, resource: &str, obj: Obj) {
        let res = self.intern(resource);
        let key = meta_ns_name(&obj);
        self.objects.entry(res).or_default().insert(key, obj);
    }

    /// Apply one change at revision `rv`; `prev` defaults to the object held
    /// now. Returns the event to hand to watchers.
    pub fn apply(&mut self, resource: &str, etype: EventType, obj: Obj, rv: u64, prev: Option<Obj>) -> Event {
        let res = self.intern(resource);
        let key = meta_ns_name(&obj);
        let map = self.objects.entry(res.clone()).or_default();
        let held = match etype {
            EventType::Deleted => map.remove(&key),
            _ => map.insert(key.clone(), obj.clone()),
        };
        self.rv = self.rv.max(rv);
        let ev = Event {
            rv,
            etype,
            resource: res.clone(),
            namespace: key.0,
            object: obj,
            prev: prev.or(held),
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

    /// Events of `resource` after `since`, or TooOld when some of them are
    /// no longer held.
    pub fn backlog(&self, resource: &str, since: u64) -> Result<Vec<Event>, StoreError> {
        let h = self.history.get(resource);
        let oldest = h.map_or(0, |h| h.compacted).max(self.floor);
        if since < oldest && since < self.rv {
            return Err(StoreError::TooOld {
                requested: since,
                oldest,
            });
        }
        Ok(
            h.map(|h| h.events.iter().filter(|e| e.rv > since).cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Every (resource, object) held, for a snapshot.
    pub fn all(&self) -> impl Iterator<Item = (&str, &Obj)> {
        self.objects
            .iter()
            .flat_map(|(res, m)| m.values().map(move |o| (&**res, o)))
    }

    /// One shared name per resource, so events and maps do not each hold a copy.
    fn intern(&self, resource: &str) -> Arc<str> {
        self.objects
            .get_key_value(resource)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| resource.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str) -> Obj {
        Arc::new(crate::store::Stored::new(
            &json!({"metadata": {"name": name, "namespace": "a"}}),
        ))
    }

    #[test]
    fn a_watch_from_below_the_floor_is_too_old_and_from_it_is_served() {
        let mut m = Memory::at(10);
        m.apply("pods", EventType::Added, pod("x"), 11, None);
        assert!(matches!(
            m.backlog("pods", 9),
            Err(StoreError::TooOld {
                requested: 9,
                oldest: 10
            })
        ));
        let b = m.backlog("pods", 10).unwrap();
        assert_eq!(b.iter().map(|e| e.rv).collect::<Vec<_>>(), vec![11]);
    }

    #[test]
    fn a_modification_carries_the_object_it_replaced() {
        let mut m = Memory::default();
        m.apply("pods", EventType::Added, pod("x"), 1, None);
        let ev = m.apply("pods", EventType::Modified, pod("x"), 2, None);
        assert_eq!(ev.prev.as_deref(), Some(&*pod("x")));
        let ev = m.apply("pods", EventType::Deleted, pod("x"), 3, None);
        assert!(ev.prev.is_some());
        assert!(m.get("pods", "a", "x").is_none());
    }
}
