//! One stored object as the store keeps it: its JSON bytes, exactly as the
//! API serves them (resourceVersion included), plus the few facts lists and
//! watches select on (namespace, name, revision, labels and the fields field
//! selectors commonly name), taken at write time. Lists, gets and watch
//! events copy the bytes out unchanged, so serving never re-encodes an
//! object; and the parsed form is not held, so an object costs its bytes
//! rather than a tree of maps several times their size.
//!
//! In-process readers that need the object as a `serde_json::Value`
//! (authorization scanning RBAC bindings, update and patch reading the
//! current object) deref it: the first deref parses the bytes and keeps the
//! result with this version of the object. Serving paths never deref.

use serde_json::Value;
use std::ops::Deref;
use std::sync::OnceLock;

/// Field selector paths answered from the index instead of parsing the
/// object: the ones node agents (`spec.nodeName`), `kubectl get
/// --field-selector status.phase=…` and `kubectl describe`/`events`
/// (`involvedObject.*`, `reason`, `type`) and cluster DNS's pod watch
/// (`status.podIP`) send. Other paths still work; they
/// parse the object for that one match.
pub const INDEXED_FIELDS: &[&str] = &[
    "spec.nodeName",
    "status.phase",
    "status.podIP",
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "reason",
    "type",
];
// One bit each in `Stored::fields`.
const _: () = assert!(INDEXED_FIELDS.len() <= 16);

pub struct Stored {
    json: Box<[u8]>,
    /// The index's strings back to back, in one allocation (an object
    /// costs its bytes plus two, not one per label): namespace, name, each
    /// label's key and value, then the value of each indexed field the
    /// object has (in INDEXED_FIELDS order). `ends` says where each ends.
    text: Box<str>,
    ends: Box<[u32]>,
    labels: u16,
    /// Bit i: INDEXED_FIELDS[i] is present (as a string).
    fields: u16,
    rv: u64,
    parsed: OnceLock<Value>,
}

impl Stored {
    /// Encode `obj` once; what the store keeps from here on is the bytes.
    pub fn new(obj: &Value) -> Self {
        let json = serde_json::to_vec(obj)
            .expect("a serde_json::Value always encodes")
            .into_boxed_slice();
        let m = &obj["metadata"];
        let mut text = String::new();
        let mut ends = Vec::new();
        let mut push = |s: &str| {
            text.push_str(s);
            ends.push(u32::try_from(text.len()).expect("an object's index under 4 GiB"));
        };
        push(m["namespace"].as_str().unwrap_or(""));
        push(m["name"].as_str().unwrap_or(""));
        let mut labels = 0u16;
        for (k, v) in m["labels"].as_object().into_iter().flatten() {
            if let (Some(v), true) = (v.as_str(), labels < u16::MAX) {
                push(k);
                push(v);
                labels += 1;
            }
        }
        let mut fields = 0u16;
        for (i, path) in INDEXED_FIELDS.iter().enumerate() {
            if let Some(v) = path
                .split('.')
                .try_fold(obj, |v, k| v.get(k))
                .and_then(Value::as_str)
            {
                push(v);
                fields |= 1 << i;
            }
        }
        Self {
            json,
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            labels,
            fields,
            rv: object_rv(obj).unwrap_or(0),
            parsed: OnceLock::new(),
        }
    }

    /// The index's string number `i`.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The object as the API serves it.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    pub fn namespace(&self) -> &str {
        self.part(0)
    }

    pub fn name(&self) -> &str {
        self.part(1)
    }

    /// metadata.resourceVersion (0 when the object carries none).
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        (0..self.labels as usize)
            .find(|l| self.part(2 + 2 * l) == key)
            .map(|l| self.part(3 + 2 * l))
    }

    /// A field selector's value: Some(Some(v)) when the path is indexed and
    /// the object has it as a string, Some(None) when indexed and absent,
    /// None when the path is not indexed (the caller parses).
    pub fn field(&self, path: &str) -> Option<Option<&str>> {
        match path {
            "metadata.name" => return Some(Some(self.name())),
            "metadata.namespace" => return Some(Some(self.namespace())),
            _ => {}
        }
        let i = INDEXED_FIELDS.iter().position(|p| *p == path)?;
        if self.fields & (1 << i) == 0 {
            return Some(None);
        }
        // Present fields follow the labels, in INDEXED_FIELDS order.
        let before = (self.fields & ((1 << i) - 1)).count_ones() as usize;
        Some(Some(self.part(2 + 2 * self.labels as usize + before)))
    }

    /// A fresh parse that is not kept: for one-off readers over many
    /// objects (Table rows, a selector on an unindexed field), so a big
    /// list does not leave every object parsed behind it.
    pub fn parse(&self) -> Value {
        match self.parsed.get() {
            Some(v) => v.clone(),
            None => serde_json::from_slice(&self.json).expect("stored bytes are JSON the store encoded"),
        }
    }

    /// An owned copy to change and write back.
    pub fn to_value(&self) -> Value {
        (**self).clone()
    }

    /// Whether a deref has parsed (and kept) this object.
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

/// The resourceVersion stored in an object's metadata, if any.
pub fn object_rv(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

impl Deref for Stored {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.parsed.get_or_init(|| {
            serde_json::from_slice(&self.json).expect("stored bytes are JSON the store encoded")
        })
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.json))
    }
}

impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_index_answers_without_parsing() {
        let v = json!({"metadata": {"name": "p", "namespace": "n", "resourceVersion": "42",
            "labels": {"app": "web", "n": 3}}, "spec": {"nodeName": "node-1"}, "status": {}});
        let s = Stored::new(&v);
        assert_eq!((s.namespace(), s.name(), s.rv()), ("n", "p", 42));
        assert_eq!(s.label("app"), Some("web"));
        assert_eq!(s.label("n"), None, "a non-string label value is no label");
        assert_eq!(s.field("spec.nodeName"), Some(Some("node-1")));
        assert_eq!(s.field("status.phase"), Some(None));
        assert_eq!(s.field("metadata.name"), Some(Some("p")));
        assert_eq!(s.field("spec.hostname"), None);
        let e = Stored::new(
            &json!({"metadata": {"name": "e", "namespace": "n", "labels": {"a": "", "b": "2"}},
            "involvedObject": {"kind": "Pod", "uid": ""}, "reason": "Started", "type": "Normal"}),
        );
        assert_eq!(
            (e.label("a"), e.label("b"), e.label("c")),
            (Some(""), Some("2"), None)
        );
        assert_eq!(e.field("involvedObject.kind"), Some(Some("Pod")));
        assert_eq!(e.field("involvedObject.name"), Some(None));
        assert_eq!(e.field("involvedObject.uid"), Some(Some("")));
        assert_eq!(
            (e.field("reason"), e.field("type")),
            (Some(Some("Started")), Some(Some("Normal")))
        );
        assert!(!s.is_parsed());
        assert_eq!(s.parse(), v);
        assert!(!s.is_parsed(), "parse() keeps nothing");
        assert_eq!(s["spec"]["nodeName"], "node-1");
        assert!(s.is_parsed(), "a deref keeps the parsed form");
        assert_eq!(serde_json::from_slice::<Value>(s.json()).unwrap(), v);
    }
}
