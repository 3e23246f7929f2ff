//! Every namespace's `kube-root-ca.crt` ConfigMap, kept from one watch.
//!
//! Every pod's service-account volume projects that ConfigMap's `ca.crt`
//! (the API server adds the volume to each pod), so each pod start read it
//! from the API: a round trip inside the start and a request per pod to the
//! server. The kubelet keeps the ConfigMaps its pods use in a watch-based
//! cache the same way. Only this one is cached: it is the one every pod
//! reads; a pod's own ConfigMaps are read at its start as before.
//!
//! A namespace the cache has no entry for is read through the API (the
//! caller's fallback): a pod created just after its namespace may start
//! before the watch has brought that namespace's ConfigMap, and an entry
//! is never taken for "does not exist".

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::Event;

/// The ConfigMap's name, as the API server's controller creates it in
/// every namespace.
pub const NAME: &str = "kube-root-ca.crt";

type Data = BTreeMap<String, String>;

#[derive(Default)]
pub struct RootCas(RwLock<State>);

#[derive(Default)]
struct State {
    by_ns: HashMap<String, Data>,
    /// A relist in progress (between Init and InitDone).
    relist: Option<HashMap<String, Data>>,
    /// A first list is complete.
    listed: bool,
}

impl RootCas {
    /// The namespace's ConfigMap data, once a first list is in and if the
    /// watch has it.
    pub fn get(&self, ns: &str) -> Option<Data> {
        let st = self.0.read().unwrap_or_else(|e| e.into_inner());
        st.by_ns.get(ns).filter(|_| st.listed).cloned()
    }

    /// One event of the watch (of ConfigMaps named [`NAME`] only).
    pub fn apply(&self, ev: Event<ConfigMap>) {
        let entry = |cm: ConfigMap| {
            let ns = cm.metadata.namespace?;
            (cm.metadata.name.as_deref() == Some(NAME)).then(|| (ns, cm.data.unwrap_or_default()))
        };
        let mut st = self.0.write().unwrap_or_else(|e| e.into_inner());
        match ev {
            Event::Apply(cm) => {
                if let Some((ns, data)) = entry(cm) {
                    st.by_ns.insert(ns, data);
                }
            }
            Event::Delete(cm) => {
                if let Some((ns, _)) = entry(cm) {
                    st.by_ns.remove(&ns);
                }
            }
            Event::Init => st.relist = Some(HashMap::new()),
            Event::InitApply(cm) => {
                if let (Some(list), Some((ns, data))) = (st.relist.as_mut(), entry(cm)) {
                    list.insert(ns, data);
                }
            }
            Event::InitDone => {
                if let Some(list) = st.relist.take() {
                    st.by_ns = list;
                }
                st.listed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(ns: &str, name: &str, ca: &str) -> ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "data": {"ca.crt": ca}
        }))
        .unwrap()
    }

    fn ca(c: &RootCas, ns: &str) -> Option<String> {
        c.get(ns).map(|d| d["ca.crt"].clone())
    }

    #[test]
    fn nothing_is_served_before_the_first_list_is_complete() {
        let c = RootCas::default();
        c.apply(Event::Init);
        c.apply(Event::InitApply(cm("a", NAME, "A")));
        assert_eq!(ca(&c, "a"), None, "a list in progress serves nothing");
        c.apply(Event::InitDone);
        assert_eq!(ca(&c, "a").as_deref(), Some("A"));
        assert_eq!(ca(&c, "b"), None, "a namespace not seen is the caller's to read");
    }

    #[test]
    fn changes_deletes_and_relists_follow_the_watch() {
        let c = RootCas::default();
        c.apply(Event::Init);
        c.apply(Event::InitDone);
        c.apply(Event::Apply(cm("a", NAME, "A")));
        c.apply(Event::Apply(cm("b", NAME, "B")));
        // Another ConfigMap (a field selector the server ignored) is not one.
        c.apply(Event::Apply(cm("a", "settings", "X")));
        assert_eq!(ca(&c, "a").as_deref(), Some("A"));
        c.apply(Event::Apply(cm("a", NAME, "A2")));
        assert_eq!(ca(&c, "a").as_deref(), Some("A2"), "a rotated CA is served");
        c.apply(Event::Delete(cm("b", NAME, "B")));
        assert_eq!(ca(&c, "b"), None);
        // A relist replaces everything at its end, not before.
        c.apply(Event::Init);
        c.apply(Event::InitApply(cm("c", NAME, "C")));
        assert_eq!(ca(&c, "a").as_deref(), Some("A2"));
        c.apply(Event::InitDone);
        assert_eq!(ca(&c, "a"), None);
        assert_eq!(ca(&c, "c").as_deref(), Some("C"));
    }
}
