//! A pod's containers keyed by name, as a Vec. A pod has one container or a
//! few, and the agent keeps such a map per pod for the pod's whole life: a
//! BTreeMap's first node has room for eleven entries (~1 KiB for the
//! container records), a HashMap starts with four buckets; this holds what
//! is in it. Serialized as a JSON object, like the map it replaces.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByName<V>(Vec<(String, V)>);

impl<V> Default for ByName<V> {
    fn default() -> Self {
        ByName(Vec::new())
    }
}

impl<V> ByName<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets `name` to `v`; the value it replaces, if any.
    pub fn insert(&mut self, name: String, v: V) -> Option<V> {
        if let Some(old) = self.get_mut(&name) {
            return Some(std::mem::replace(old, v));
        }
        // Room for exactly one more: most pods never get a second.
        self.0.reserve_exact(1);
        self.0.push((name, v));
        None
    }

    pub fn remove(&mut self, name: &str) -> Option<V> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    pub fn drain(&mut self) -> impl Iterator<Item = (String, V)> + '_ {
        self.0.drain(..)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, V> IntoIterator for &'a ByName<V> {
    type Item = (&'a String, &'a V);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&'a (String, V)) -> (&'a String, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(n, v)| (n, v))
    }
}

impl<V: Serialize> Serialize for ByName<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (n, v) in &self.0 {
            m.serialize_entry(n, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for ByName<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = ByName<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of containers by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = ByName(Vec::with_capacity(a.size_hint().unwrap_or(0)));
                while let Some((n, v)) = a.next_entry::<String, V>()? {
                    out.insert(n, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_by_name_in_a_vec() {
        let mut m = ByName::new();
        assert_eq!(m.insert("app".to_string(), 1), None);
        assert_eq!(m.insert("sidecar".to_string(), 2), None);
        assert_eq!(m.insert("app".to_string(), 3), Some(1));
        assert_eq!((m.len(), m.get("app"), m.get("nope")), (2, Some(&3), None));
        *m.get_mut("sidecar").unwrap() += 10;
        assert_eq!(m.remove("sidecar"), Some(12));
        assert_eq!(m.remove("sidecar"), None);
        assert_eq!(m.drain().collect::<Vec<_>>(), vec![("app".to_string(), 3)]);
        assert!(m.is_empty());
    }

    #[test]
    fn serialized_as_the_object_the_btreemap_was() {
        // Records written by an older agent read back, and the other way.
        let old: std::collections::BTreeMap<String, u32> = [("a".into(), 1), ("b".into(), 2)].into();
        let text = serde_json::to_string(&old).unwrap();
        let m: ByName<u32> = serde_json::from_str(&text).unwrap();
        assert_eq!((m.get("a"), m.get("b")), (Some(&1), Some(&2)));
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        assert!(serde_json::from_str::<ByName<u32>>("[1]").is_err());
    }
}
