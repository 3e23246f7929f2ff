//! Every pod's projected service-account tokens kept fresh by one task of
//! the kubelet role, as the kubelet's token manager does: each token is
//! requested again once 80% of its life has passed (`projected::refresh_at`)
//! and written into its volume's folder atomically. A renewal ends when its
//! pod's folder is gone (looked at every GONE_CHECK_S) or the server refuses
//! (the pod was deleted: its tokens die with it).
//!
//! One task for all, not one per pod: a task and its timer cost each pod
//! ~400 bytes for its whole life (its future's largest state, the
//! scheduler's header, the sleep's timer entry); a renewal here keeps only
//! the pod's identity and account, the folder and each token's source and
//! life.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use super::nodepod::NodePod;
use super::projected::{now, refresh_at, request, Fresh, Holder, Token};
use crate::agent::context::Agent;

/// How often the task looks whether each pod's folder is still there: a
/// deleted pod's renewal ends within this, not when its token would have
/// been renewed (most of an hour later).
const GONE_CHECK_S: i64 = 60;

/// The renewals of this node's pods (the Agent's).
#[derive(Default)]
pub struct Renewals {
    all: Mutex<Vec<Renewal>>,
}

struct Renewal {
    who: Holder,
    dir: PathBuf,
    tokens: Box<[Token]>,
}

impl Renewal {
    /// When its first token is due.
    fn due(&self) -> Option<i64> {
        self.tokens.iter().map(|t| refresh_at(t.issued, t.expires)).min()
    }
}

impl Renewals {
    /// Keep `f`'s tokens fresh for `pod` from now on.
    pub fn keep(&self, pod: &NodePod, f: Fresh) {
        let Fresh { dir, tokens } = f;
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
            dir,
            tokens,
        };
        self.all.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    /// The renewals due at `now` (taken out), those whose folder is gone
    /// dropped, and when to look next.
    fn take_due(&self, now: i64, gone: impl Fn(&Renewal) -> bool) -> (Vec<Renewal>, i64) {
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

    fn put_back(&self, r: Renewal) {
        self.all.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.all.lock().unwrap().len()
    }
}

/// The kubelet role's renewal task; never ends.
pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let mut next = now();
    loop {
        let wait = (next - now()).clamp(1, GONE_CHECK_S) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let (due, soonest) = agent.renewals.take_due(now(), |r| !r.dir.exists());
        next = soonest;
        for mut r in due {
            // Boxed: the request's state is not part of the task at rest.
            if Box::pin(renew(&agent, &mut r)).await {
                next = next.min(r.due().unwrap_or(i64::MAX));
                agent.renewals.put_back(r);
            }
        }
    }
}

/// Request each token again and rewrite the folder; false when the
/// renewal ends (the folder is gone or unreadable, or a token expired
/// without being renewed).
async fn renew(agent: &Agent, r: &mut Renewal) -> bool {
    let mut files = match crate::runtime::atomic_dir::read(&r.dir) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!("pod {}: reading its token volume: {e}", r.who.pod.label());
            return false;
        }
    };
    for t in r.tokens.iter_mut() {
        match request(agent, &r.who, t.audience.as_deref(), t.seconds).await {
            Ok((token, issued, expires)) => {
                (t.issued, t.expires) = (issued, expires);
                if let Some(file) = files.iter_mut().find(|x| x.0 == t.path) {
                    file.1 = token.into_bytes();
                }
            }
            Err(e) => {
                tracing::info!("pod {}: token not renewed: {e:#}", r.who.pod.label());
                if !r.dir.exists() || now() >= t.expires {
                    return false;
                }
                // Try again in a while (the old one still holds).
                t.issued = now() - 1;
                t.expires = t.expires.max(t.issued + 10);
            }
        }
    }
    if let Err(e) = crate::runtime::atomic_dir::write(&r.dir, &files) {
        tracing::warn!("pod {}: writing renewed token: {e}", r.who.pod.label());
    }
    true
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

    fn fresh(dir: &str, tokens: Vec<Token>) -> Fresh {
        Fresh {
            dir: dir.into(),
            tokens,
        }
    }

    /// Renewals come out when due (80% of their life), the others wait,
    /// one whose folder is gone is dropped, and the next look is at the
    /// soonest due one.
    #[test]
    fn renewals_are_taken_when_due_and_dropped_when_gone() {
        let rs = Renewals::default();
        // Issued at 0: due at 800 (80% of 1000), 4000 and 2400.
        rs.keep(&pod("a"), fresh("/a", vec![token(0, 1000)]));
        rs.keep(&pod("b"), fresh("/b", vec![token(0, 5000)]));
        rs.keep(&pod("c"), fresh("/c", vec![token(0, 5000), token(0, 3000)]));
        // A volume without tokens needs no renewal.
        rs.keep(&pod("d"), fresh("/d", vec![]));
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
        let (due, next) = rs.take_due(900, |r| r.dir == std::path::Path::new("/c"));
        assert_eq!(
            due.iter().map(|r| r.who.pod.name.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(next, 4000);
        assert_eq!(rs.len(), 1);
    }
}
