//! The projected tokens of this node's pods that are to be kept fresh
//! (the Agent's `renewals`), and which of them are due; renewed by the
//! kubelet role's one task (`token_renewal`). One store and one task for
//! all, not a task per pod: a task and its timer cost each pod ~400 bytes
//! for its whole life (its future's largest state, the scheduler's header,
//! the sleep's timer entry); a renewal here keeps only the pod's identity
//! and account and each token's volume, source and life (the folder is
//! found from the pod's uid and the volume's name, not kept: ~140 bytes a
//! pod).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::nodepod::NodePod;
use super::tokens::{refresh_at, Fresh, Holder, Token};

/// The renewals of this node's pods (the Agent's).
#[derive(Default)]
pub struct Renewals {
    all: Mutex<Vec<Renewal>>,
}

/// One projected volume's tokens (never none: `keep` skips a volume
/// without).
pub struct Renewal {
    pub who: Holder,
    pub tokens: Box<[Token]>,
}

impl Renewal {
    /// The volume's folder under the node's pod folders (`state_dir`).
    pub fn dir(&self, state_dir: &Path) -> PathBuf {
        let volume = self.tokens.first().map_or("", |t| t.volume.as_str());
        crate::runtime::volumes::dir(state_dir, &self.who.pod.uid, volume)
    }

    /// When its first token is due.
    pub fn due(&self) -> Option<i64> {
        self.tokens.iter().map(|t| refresh_at(t.issued, t.expires)).min()
    }
}

impl Renewals {
    /// Keep `f`'s tokens fresh for `pod` from now on.
    pub fn keep(&self, pod: &NodePod, f: Fresh) {
        let Fresh { tokens } = f;
        if tokens.is_empty() {
            return;
        }
        let tokens = tokens
            .into_iter()
            // In the folder; not kept here.
            .map(|t| Token {
                token: String::new(),
                ..t
            })
            .collect();
        let r = Renewal {
            who: Holder::of(pod),
            tokens,
        };
        self.all.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    /// The renewals due at `now` (taken out), those whose folder is gone
    /// dropped, and when to look next.
    pub fn take_due(&self, now: i64, gone: impl Fn(&Renewal) -> bool) -> (Vec<Renewal>, i64) {
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|r| !gone(r));
        let mut due = Vec::new();
        let mut i = 0;
        while i < all.len() {
            if all[i].due().is_some_and(|d| d <= now) {
                due.push(all.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let kept = all.len();
        all.shrink_to(kept * 2);
        let next = all.iter().filter_map(Renewal::due).min().unwrap_or(i64::MAX);
        (due, next)
    }

    pub fn put_back(&self, r: Renewal) {
        self.all.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.all.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::pod::SlimPod;

    fn pod(name: &str) -> NodePod {
        let w: SlimPod = serde_json::from_value(serde_json::json!({
            "metadata": {"uid": format!("u-{name}"), "name": name, "namespace": "n"},
            "spec": {"serviceAccountName": "robot", "containers": [{"name": "c"}]}
        }))
        .unwrap();
        NodePod::from_watched(w).unwrap()
    }

    fn token(issued: i64, expires: i64) -> Token {
        Token {
            volume: "kube-api-access".into(),
            path: "token".into(),
            audience: None,
            seconds: Some(3607),
            token: "secret".into(),
            issued,
            expires,
        }
    }

    fn fresh(tokens: Vec<Token>) -> Fresh {
        Fresh { tokens }
    }

    /// Renewals come out when due (80% of their life), the others wait,
    /// one whose folder is gone is dropped, and the next look is at the
    /// soonest due one.
    #[test]
    fn renewals_are_taken_when_due_and_dropped_when_gone() {
        let rs = Renewals::default();
        // Issued at 0: due at 800 (80% of 1000), 4000 and 2400.
        rs.keep(&pod("a"), fresh(vec![token(0, 1000)]));
        rs.keep(&pod("b"), fresh(vec![token(0, 5000)]));
        rs.keep(&pod("c"), fresh(vec![token(0, 5000), token(0, 3000)]));
        // A volume without tokens needs no renewal.
        rs.keep(&pod("d"), fresh(vec![]));
        assert_eq!(rs.len(), 3);
        let (due, next) = rs.take_due(500, |_| false);
        assert!(due.is_empty());
        assert_eq!(next, 800);
        let (due, next) = rs.take_due(800, |_| false);
        assert_eq!(
            due.iter().map(|r| r.who.pod.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        // The token itself is in the folder, not kept.
        assert!(due[0].tokens.iter().all(|t| t.token.is_empty()));
        assert_eq!(due[0].who.account, "robot");
        assert_eq!(next, 2400);
        assert_eq!(rs.len(), 2);
        rs.put_back(due.into_iter().next().unwrap());
        // Its folder, found from the pod's uid and the volume's name.
        let pods = std::path::Path::new("/var/lib/labyrinth/pods");
        let c = std::path::Path::new("/var/lib/labyrinth/pods/u-c/volumes/kube-api-access");
        let (due, next) = rs.take_due(900, |r| r.dir(pods) == c);
        assert_eq!(
            due.iter().map(|r| r.who.pod.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(next, 4000);
        assert_eq!(rs.len(), 1);
    }
}
