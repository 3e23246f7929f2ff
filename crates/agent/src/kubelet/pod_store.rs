//! The pods bound to this node, kept from the watch by uid. kube's
//! reflector would key each by an ObjectRef (four more strings) and keep
//! the decoded object itself; this keeps the compact [`NodePod`].
//!
//! Like the reflector, a (re)list replaces the store only once it is
//! complete: a partial list would look like "these pods were deleted".

use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::watcher::Event;
use labyrinth_contracts::pod::SlimPod;

use super::nodepod::NodePod;

#[derive(Default)]
pub struct PodStore {
    pods: HashMap<String, Arc<NodePod>>,
    /// A list in progress (between Init and InitDone).
    relist: Option<HashMap<String, Arc<NodePod>>>,
    ready: bool,
}

impl PodStore {
    pub fn apply(&mut self, ev: Event<SlimPod>) {
        match ev {
            Event::Apply(w) => {
                let Some(p) = NodePod::from_watched(w) else { return };
                // Most events of a running pod are its own status writes
                // coming back (about a dozen per start), which change
                // nothing kept here: the copy kept since stays, and the new
                // one is freed at once instead of the old one leaving its
                // many small blocks scattered among newer ones.
                if self.pods.get(p.uid()).is_some_and(|old| **old == p) {
                    return;
                }
                self.pods.insert(p.uid().to_string(), Arc::new(p));
            }
            Event::Delete(w) => {
                if let Some(uid) = &w.metadata.uid {
                    self.pods.remove(uid);
                }
            }
            Event::Init => self.relist = Some(HashMap::new()),
            Event::InitApply(w) => {
                if let (Some(list), Some(p)) = (self.relist.as_mut(), NodePod::from_watched(w)) {
                    list.insert(p.uid().to_string(), Arc::new(p));
                }
            }
            Event::InitDone => {
                if let Some(mut list) = self.relist.take() {
                    list.shrink_to_fit();
                    self.pods = list;
                }
                self.ready = true;
            }
        }
    }

    /// Whether a first full list is in.
    pub fn ready(&self) -> bool {
        self.ready
    }

    pub fn get(&self, uid: &str) -> Option<Arc<NodePod>> {
        self.pods.get(uid).cloned()
    }

    pub fn pods(&self) -> Vec<Arc<NodePod>> {
        self.pods.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, name: &str) -> SlimPod {
        serde_json::from_value(json!({"metadata": {"uid": uid, "name": name, "namespace": "n"}})).unwrap()
    }

    fn names(s: &PodStore) -> Vec<String> {
        let mut v: Vec<String> = s.pods().iter().map(|p| p.name().to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_list_replaces_the_store_only_once_complete() {
        let mut s = PodStore::default();
        assert!(!s.ready());
        s.apply(Event::Init);
        s.apply(Event::InitApply(pod("1", "a")));
        assert!(!s.ready() && names(&s).is_empty());
        s.apply(Event::InitDone);
        assert!(s.ready());
        assert_eq!(names(&s), ["a"]);
        s.apply(Event::Apply(pod("2", "b")));
        s.apply(Event::Apply(pod("1", "a")));
        assert_eq!(names(&s), ["a", "b"]);
        // A relist (watch restarted) while b was deleted: b is gone once
        // the list is complete, not before.
        s.apply(Event::Init);
        s.apply(Event::InitApply(pod("1", "a")));
        assert_eq!(names(&s), ["a", "b"]);
        s.apply(Event::InitDone);
        assert_eq!(names(&s), ["a"]);
        s.apply(Event::Delete(pod("1", "a")));
        assert!(names(&s).is_empty() && s.ready());
    }

    /// An event that changes nothing kept (the pod's own status coming
    /// back) leaves the kept copy; one that changes it replaces it.
    #[test]
    fn an_unchanged_pod_keeps_its_copy() {
        let mut s = PodStore::default();
        s.apply(Event::Apply(pod("1", "a")));
        let kept = s.get("1").unwrap();
        s.apply(Event::Apply(pod("1", "a")));
        assert!(Arc::ptr_eq(&kept, &s.get("1").unwrap()));
        let deleting: SlimPod = serde_json::from_value(json!({"metadata": {"uid": "1", "name": "a",
            "namespace": "n", "deletionTimestamp": "2026-12-05T00:00:00Z"}}))
        .unwrap();
        s.apply(Event::Apply(deleting));
        let now = s.get("1").unwrap();
        assert!(!Arc::ptr_eq(&kept, &now));
        assert!(now.deleting());
    }
}
