//! List chunking (`limit` and `continue`, `kubectl get --chunk-size`): every
//! page of one list comes from the same snapshot, the one the first page was
//! read at. The continue token holds that snapshot's resourceVersion and the
//! last key served; a later page lists the resource now and undoes the
//! changes made since the snapshot from the store's watch history (the
//! `Store` trait's `watch` backlog), so objects created, changed or deleted
//! between pages never show up, twice or at all. When the history no longer
//! reaches back that far the token has expired: 410, as the real server
//! answers once etcd has compacted the revision.

use super::status::{ApiError, ApiResult};
use crate::store::{EventType, Obj, Store, StoreError, Stored};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The version tag the real server writes into its tokens.
const TOKEN_VERSION: &str = "meta.k8s.io/v1";

const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// (namespace, name): the store's order, and the order pages are cut in.
type Key = (String, String);

/// Where a continued list resumes.
#[derive(Debug, PartialEq)]
pub struct Token {
    pub rv: u64,
    /// The last key served: the next page starts after it.
    pub after: Key,
}

impl Token {
    pub fn encode(&self) -> String {
        let (ns, name) = &self.after;
        let start = if ns.is_empty() {
            format!("{name}\u{0}")
        } else {
            format!("{ns}/{name}\u{0}")
        };
        let raw = json!({"v": TOKEN_VERSION, "rv": self.rv, "start": start});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    /// A token this server wrote, or 400 saying what is wrong with it.
    pub fn decode(token: &str) -> ApiResult<Token> {
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "invalid continue token: continue key is not valid: {why}"
            ))
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|e| bad(&e.to_string()))?;
        let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(&e.to_string()))?;
        let version = v["v"].as_str().unwrap_or("");
        if version != TOKEN_VERSION {
            return Err(bad(&format!(
                "server does not recognize this encoded version {version:?}"
            )));
        }
        let rv = v["rv"].as_u64().filter(|rv| *rv > 0).ok_or_else(|| {
            bad(&format!(
                "incorrect encoded start resourceVersion (version {TOKEN_VERSION})"
            ))
        })?;
        let start = v["start"]
            .as_str()
            .and_then(|s| s.strip_suffix('\u{0}'))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("encoded start key is empty"))?;
        let after = match start.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (String::new(), start.to_string()),
        };
        Ok(Token { rv, after })
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Obj>,
    /// The snapshot's resourceVersion.
    pub rv: u64,
    pub cont: Option<String>,
    /// How many matching objects follow this page (unfiltered lists only,
    /// as the real server counts them).
    pub remaining: Option<u64>,
}

impl Page {
    /// The list metadata the page carries.
    pub fn meta(&self) -> Value {
        let mut m = json!({"resourceVersion": self.rv.to_string()});
        if let Some(c) = &self.cont {
            m["continue"] = json!(c);
        }
        if let Some(n) = self.remaining {
            m["remainingItemCount"] = json!(n);
        }
        m
    }
}

fn key_of(obj: &Stored) -> Key {
    (obj.namespace().to_string(), obj.name().to_string())
}

/// The objects of `resource` (in `ns`, or all) as they were at `rv`: the
/// current ones with every later change undone.
fn snapshot_at(
    store: &dyn Store,
    resource: &str,
    ns: Option<&str>,
    rv: u64,
) -> ApiResult<BTreeMap<Key, Obj>> {
    let (items, now) = store.list(resource, ns);
    let mut at: BTreeMap<Key, Obj> = items.into_iter().map(|o| (key_of(&o), o)).collect();
    if rv > now {
        return Err(ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: resourceVersion {rv} is newer than the server's {now}"
        )));
    }
    if rv == now {
        return Ok(at);
    }
    let backlog = match store.watch(resource, rv) {
        Ok(w) => w.backlog,
        Err(StoreError::TooOld { .. }) => return Err(ApiError::new(410, "Expired", EXPIRED)),
        Err(e) => return Err(ApiError::internal(e)),
    };
    // Changes after the list was read are not in `items`: leave them.
    for ev in backlog.iter().rev().filter(|e| e.rv > rv && e.rv <= now) {
        if ns.is_some_and(|ns| ns != ev.namespace) {
            continue;
        }
        let key = key_of(&ev.object);
        match ev.etype {
            EventType::Added => {
                at.remove(&key);
            }
            EventType::Modified => match &ev.prev {
                Some(p) => {
                    at.insert(key, p.clone());
                }
                // No earlier state to go back to: the snapshot cannot be
                // rebuilt, so it is treated as gone.
                None => return Err(ApiError::new(410, "Expired", EXPIRED)),
            },
            EventType::Deleted => {
                at.insert(key, ev.prev.clone().unwrap_or_else(|| ev.object.clone()));
            }
        }
    }
    Ok(at)
}

/// `limit` as the real server reads it: absent, zero or negative means
/// no limit.
pub fn parse_limit(limit: Option<&str>) -> ApiResult<Option<usize>> {
    match limit.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::bad_request(format!("limit: Invalid value: {s:?}: must be an integer"))
            })?;
            Ok(usize::try_from(n).ok().filter(|n| *n > 0))
        }
    }
}

/// One page of the objects that `matches`, `limit` at most, starting after
/// the continue token's key. `filtered` says a selector is in use (no
/// remaining count then).
pub fn page(
    store: &dyn Store,
    resource: &str,
    ns: Option<&str>,
    matches: impl Fn(&Stored) -> bool,
    limit: Option<usize>,
    cont: Option<&str>,
    filtered: bool,
) -> ApiResult<Page> {
    let token = cont.filter(|c| !c.is_empty()).map(Token::decode).transpose()?;
    let (items, rv): (Vec<Obj>, u64) = match &token {
        None => {
            let (items, rv) = store.list(resource, ns);
            let mut sorted: Vec<Obj> = items;
            // Stores hand them over in this order already: a check, then.
            sorted.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
            (sorted, rv)
        }
        Some(t) => {
            let at = snapshot_at(store, resource, ns, t.rv)?;
            let rest = at.range((
                std::ops::Bound::Excluded(t.after.clone()),
                std::ops::Bound::Unbounded,
            ));
            (rest.map(|(_, o)| o.clone()).collect(), t.rv)
        }
    };
    let mut matching = items.into_iter().filter(|o| matches(o));
    let Some(limit) = limit else {
        return Ok(Page {
            items: matching.collect(),
            rv,
            cont: None,
            remaining: None,
        });
    };
    let items: Vec<Obj> = matching.by_ref().take(limit).collect();
    let left = matching.count() as u64;
    let cont = (left > 0)
        .then(|| items.last().map(|o| Token { rv, after: key_of(o) }.encode()))
        .flatten();
    Ok(Page {
        items,
        rv,
        remaining: (cont.is_some() && !filtered).then_some(left),
        cont,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LogStore;

    fn pod(store: &LogStore, name: &str) {
        let obj = json!({"metadata": {"name": name, "namespace": "ns"}});
        store.create("pods", "ns", name, obj).unwrap();
    }

    fn names(p: &Page) -> Vec<String> {
        p.items.iter().map(|o| key_of(o).1).collect()
    }

    #[test]
    fn pages_come_from_the_first_page_snapshot() {
        let store = LogStore::in_memory();
        for n in ["a", "b", "c", "d", "e"] {
            pod(&store, n);
        }
        let all = |_: &Stored| true;
        let p1 = page(&store, "pods", Some("ns"), all, Some(2), None, false).unwrap();
        assert_eq!(names(&p1), ["a", "b"]);
        assert_eq!(p1.remaining, Some(3));
        // Between pages: one served object and one unserved go, one is added.
        store.delete("pods", "ns", "a", None).unwrap();
        store.delete("pods", "ns", "d", None).unwrap();
        pod(&store, "bb");
        let p2 = page(
            &store,
            "pods",
            Some("ns"),
            all,
            Some(2),
            p1.cont.as_deref(),
            false,
        )
        .unwrap();
        assert_eq!(names(&p2), ["c", "d"], "the snapshot still holds d and not bb");
        assert_eq!(p2.rv, p1.rv);
        let p3 = page(
            &store,
            "pods",
            Some("ns"),
            all,
            Some(2),
            p2.cont.as_deref(),
            false,
        )
        .unwrap();
        assert_eq!(names(&p3), ["e"]);
        assert!(p3.cont.is_none() && p3.remaining.is_none());
    }

    #[test]
    fn a_token_past_the_history_is_410() {
        let store = LogStore::in_memory();
        for n in ["a", "b"] {
            pod(&store, n);
        }
        let all = |_: &Stored| true;
        let p1 = page(&store, "pods", Some("ns"), all, Some(1), None, false).unwrap();
        for i in 0..=crate::store::log::HISTORY_PER_RESOURCE {
            let obj = json!({"metadata": {"name": "b", "namespace": "ns", "labels": {"n": i.to_string()}}});
            store.update("pods", "ns", "b", obj, None).unwrap();
        }
        let e = page(
            &store,
            "pods",
            Some("ns"),
            all,
            Some(1),
            p1.cont.as_deref(),
            false,
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason), (410, "Expired"));
        assert!(
            e.message
                .starts_with("The provided continue parameter is too old"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_tokens_are_400_and_tokens_round_trip() {
        let t = Token {
            rv: 7,
            after: ("ns".into(), "p".into()),
        };
        assert_eq!(Token::decode(&t.encode()).unwrap(), t);
        for bad in ["!!!", "e30", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MH0"] {
            let e = Token::decode(bad).unwrap_err();
            assert_eq!(e.code, 400, "{bad}");
            assert!(
                e.message
                    .starts_with("invalid continue token: continue key is not valid"),
                "{}",
                e.message
            );
        }
        assert_eq!(parse_limit(Some("-1")).unwrap(), None);
        assert_eq!(parse_limit(Some("3")).unwrap(), Some(3));
        assert_eq!(parse_limit(Some("x")).unwrap_err().code, 400);
    }
}
