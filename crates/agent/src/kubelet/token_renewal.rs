//! Every pod's projected service-account tokens kept fresh by one task of
//! the kubelet role, as the kubelet's token manager does: each token is
//! requested again once 80% of its life has passed (`tokens::refresh_at`)
//! and written into its volume's folder atomically. A renewal ends when its
//! pod's folder is gone (looked at every GONE_CHECK_S) or the server refuses
//! (the pod was deleted: its tokens die with it).
//!
//! The renewals themselves are kept in `renewals` (the Agent's), apart
//! from this task, so the Agent's context does not import what imports it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::projected::request;
use super::renewals::Renewal;
use super::tokens::now;
use crate::agent::context::Agent;

/// How often the task looks whether each pod's folder is still there: a
/// deleted pod's renewal ends within this, not when its token would have
/// been renewed (most of an hour later).
const GONE_CHECK_S: i64 = 60;

/// The kubelet role's renewal task; never ends.
pub async fn run(agent: Arc<Agent>) -> Result<()> {
    let mut next = now();
    loop {
        let wait = (next - now()).clamp(1, GONE_CHECK_S) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let pods = &agent.runtime.state_dir;
        let (due, soonest) = agent.renewals.take_due(now(), |r| !r.dir(pods).exists());
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
    let dir = r.dir(&agent.runtime.state_dir);
    let mut files = match crate::runtime::atomic_dir::read(&dir) {
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
                if !dir.exists() || now() >= t.expires {
                    return false;
                }
                // Try again in a while (the old one still holds).
                t.issued = now() - 1;
                t.expires = t.expires.max(t.issued + 10);
            }
        }
    }
    if let Err(e) = crate::runtime::atomic_dir::write(&dir, &files) {
        tracing::warn!("pod {}: writing renewed token: {e}", r.who.pod.label());
    }
    true
}
