//! Expectations: writes a controller made that its cache has not shown yet.
//! Until the cache catches up, acting again on the stale view would create a
//! second pod (or slice) for the same gap, so a reconcile waits instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the cache says about a name: absent, present, or present but being
/// deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Absent,
    Present,
    Terminating,
}

#[derive(Debug)]
enum Pending {
    Create(String, Instant),
    Delete(String, Instant),
}

/// Past this, an expectation is dropped (its event was missed or undone):
/// the controller then trusts its cache again.
const EXPIRY: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Vec<Pending>>>,
}

impl Expectations {
    pub fn created(&self, key: &str, name: &str) {
        self.push(key, Pending::Create(name.into(), Instant::now()));
    }

    pub fn deleted(&self, key: &str, name: &str) {
        self.push(key, Pending::Delete(name.into(), Instant::now()));
    }

    fn push(&self, key: &str, p: Pending) {
        self.inner
            .lock()
            .expect("expectations lock")
            .entry(key.into())
            .or_default()
            .push(p);
    }

    /// Drops what the cache now shows (or what expired) and tells whether
    /// nothing is left to wait for under `key`.
    pub fn satisfied(&self, key: &str, seen: impl Fn(&str) -> Seen) -> bool {
        let mut map = self.inner.lock().expect("expectations lock");
        let Some(list) = map.get_mut(key) else {
            return true;
        };
        list.retain(|p| match p {
            Pending::Create(n, t) => t.elapsed() < EXPIRY && seen(n) == Seen::Absent,
            Pending::Delete(n, t) => t.elapsed() < EXPIRY && seen(n) == Seen::Present,
        });
        let done = list.is_empty();
        if done {
            map.remove(key);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_the_cache_shows_each_write() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs", |_| Seen::Absent));
        e.created("ns/rs", "p1");
        e.deleted("ns/rs", "p0");
        // Cache still shows the old world: p1 missing, p0 alive.
        let stale = |n: &str| if n == "p1" { Seen::Absent } else { Seen::Present };
        assert!(!e.satisfied("ns/rs", stale));
        // p1 arrived, p0 not yet going.
        assert!(!e.satisfied("ns/rs", |_| Seen::Present), "p0 still there");
        assert!(e.satisfied("ns/rs", |n| if n == "p1" {
            Seen::Present
        } else {
            Seen::Terminating
        }));
        // Satisfied expectations are gone for good.
        assert!(e.satisfied("ns/rs", |_| Seen::Absent));
        assert!(e.satisfied("other", |_| Seen::Absent));
    }
}
