//! One kind's objects from a watch, keyed `namespace/name`; a relist
//! replaces them only once it is complete, as kube's reflector does.

use std::collections::BTreeMap;

use kube::runtime::watcher::Event;
use kube::Resource;

pub struct Objects<K> {
    objs: BTreeMap<String, K>,
    relist: BTreeMap<String, K>,
    /// The first list is complete.
    pub listed: bool,
}

impl<K> Default for Objects<K> {
    fn default() -> Self {
        Self {
            objs: BTreeMap::new(),
            relist: BTreeMap::new(),
            listed: false,
        }
    }
}

fn key<K: Resource>(o: &K) -> String {
    let m = o.meta();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or("")
    )
}

impl<K: Resource> Objects<K> {
    pub fn apply(&mut self, ev: Event<K>) {
        match ev {
            Event::Init => self.relist.clear(),
            Event::InitApply(o) => {
                self.relist.insert(key(&o), o);
            }
            Event::InitDone => {
                self.objs = std::mem::take(&mut self.relist);
                self.listed = true;
            }
            Event::Apply(o) => {
                self.objs.insert(key(&o), o);
            }
            Event::Delete(o) => {
                self.objs.remove(&key(&o));
            }
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &K> {
        self.objs.values()
    }
}
