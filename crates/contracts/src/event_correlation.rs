//! What a recorder does with an occurrence before writing it, as client-go's
//! event correlator does, so that a burst or a loop reads in `kubectl get
//! events` as it does on any cluster and costs the API server what it
//! costs there:
//! - a budget per object (every reason together): 25 events at once, then
//!   one more per 5 minutes; past it an occurrence is dropped. A node of 50
//!   crash-looping pods, or a controller retrying one object, no longer
//!   writes without end.
//! - similar occurrences (one object, one reason, different messages, as a
//!   ReplicaSet's "Created pod: …" for each of its pods): from the 10th
//!   different message within 10 minutes they count on one event whose
//!   message is `(combined from similar events): ` and the latest message.
//!
//! Kept per recorder (each component's own, as each client-go broadcaster
//! keeps its own), by hashes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Instant;

/// Events an object may get at once.
pub const BURST: f32 = 25.0;
/// Seconds for one more.
pub const REFILL_SECS: f32 = 300.0;
/// Different messages (one object, one reason) before they are combined.
pub const SIMILAR: usize = 10;
/// Seconds without a similar occurrence after which counting starts over.
pub const SIMILAR_WINDOW_SECS: u32 = 600;
/// What a combined event's message starts with.
pub const COMBINED: &str = "(combined from similar events): ";
/// Past this many objects (or object-reason pairs) the memory starts over.
const REMEMBERED: usize = 4096;

/// What to write for an occurrence.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its own event (a repeat of one message counts on that one).
    Own,
    /// The object's combined event for this reason (its message:
    /// COMBINED and the occurrence's own).
    Combined,
    /// Nothing: the object's budget is spent.
    Dropped,
}

#[derive(Clone, Copy)]
struct Budget {
    tokens: f32,
    /// Seconds since the correlator began, when tokens were counted.
    at: u32,
}

/// One object's occurrences for one reason.
#[derive(Clone, Copy)]
struct Similar {
    /// Seconds since the correlator began, of the last one.
    last: u32,
    /// Different messages among them (new ones, as the recorder knows
    /// what it has written; not counted past SIMILAR).
    different: u32,
}

/// One recorder's correlation state: 16 bytes an object and 16 an
/// object's reason (the node agents keep one of each for every pod's few
/// reasons; the messages themselves are known by the recorder's own map of
/// the events it wrote).
pub struct Correlator {
    began: Instant,
    budgets: HashMap<u64, Budget>,
    similar: HashMap<u64, Similar>,
}

impl Default for Correlator {
    fn default() -> Self {
        Correlator {
            began: Instant::now(),
            budgets: HashMap::new(),
            similar: HashMap::new(),
        }
    }
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Correlator {
    /// The verdict on an occurrence recorded now about `object` (any
    /// stable identity of it: namespace, kind, name, uid) for `reason`;
    /// `new_message`: its message is not one the recorder has written an
    /// event of.
    pub fn judge(&mut self, object: impl Hash, reason: &str, new_message: bool) -> Verdict {
        let now = self.began.elapsed().as_secs() as u32;
        self.judge_at(now, hash_of(object), reason, new_message)
    }

    fn judge_at(&mut self, now: u32, object: u64, reason: &str, new_message: bool) -> Verdict {
        if self.budgets.len() >= REMEMBERED {
            self.budgets.clear();
        }
        let b = self.budgets.entry(object).or_insert(Budget {
            tokens: BURST,
            at: now,
        });
        b.tokens = (b.tokens + now.saturating_sub(b.at) as f32 / REFILL_SECS).min(BURST);
        b.at = now;
        if b.tokens < 1.0 {
            return Verdict::Dropped;
        }
        b.tokens -= 1.0;

        if self.similar.len() >= REMEMBERED {
            self.similar.clear();
        }
        let s = self.similar.entry(hash_of((object, reason))).or_insert(Similar {
            last: now,
            different: 0,
        });
        if now.saturating_sub(s.last) > SIMILAR_WINDOW_SECS {
            s.different = 0;
        }
        s.last = now;
        if new_message && s.different < SIMILAR as u32 {
            s.different += 1;
        }
        if s.different < SIMILAR as u32 {
            Verdict::Own
        } else {
            Verdict::Combined
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ReplicaSet creating 30 pods at once: 9 events of their own, the
    /// 10th to 25th on the combined one, the rest dropped.
    #[test]
    fn similar_messages_combine_and_the_budget_ends_them() {
        let mut c = Correlator::default();
        let v: Vec<Verdict> = (0..30)
            .map(|_| c.judge_at(0, 1, "SuccessfulCreate", true))
            .collect();
        assert!(v[..9].iter().all(|v| *v == Verdict::Own));
        assert!(v[9..25].iter().all(|v| *v == Verdict::Combined));
        assert!(v[25..].iter().all(|v| *v == Verdict::Dropped));
        // Another object has a budget of its own.
        assert_eq!(c.judge_at(0, 2, "SuccessfulCreate", true), Verdict::Own);
        // One more every five minutes.
        assert_eq!(c.judge_at(300, 1, "SuccessfulCreate", true), Verdict::Combined);
        assert_eq!(c.judge_at(300, 1, "SuccessfulCreate", true), Verdict::Dropped);
    }

    /// A message written before counts on its event; each reason of an
    /// object counts its own different messages, and ten quiet minutes
    /// start the count over.
    #[test]
    fn repeats_and_other_reasons_stay_their_own() {
        let mut c = Correlator::default();
        assert_eq!(c.judge_at(0, 1, "BackOff", true), Verdict::Own);
        for _ in 0..20 {
            assert_eq!(c.judge_at(0, 1, "BackOff", false), Verdict::Own);
        }
        for _ in 0..9 {
            assert_eq!(c.judge_at(0, 3, "Pulled", true), Verdict::Own);
        }
        assert_eq!(c.judge_at(0, 3, "Started", true), Verdict::Own);
        assert_eq!(c.judge_at(0, 3, "Pulled", true), Verdict::Combined);
        // Once combined, an earlier message counts on the combined one too.
        assert_eq!(c.judge_at(0, 3, "Pulled", false), Verdict::Combined);
        assert_eq!(
            c.judge_at(SIMILAR_WINDOW_SECS + 1, 3, "Pulled", true),
            Verdict::Own
        );
    }
}
