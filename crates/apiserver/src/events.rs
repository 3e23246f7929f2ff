//! Events expire: the real server stores each with a one-hour TTL (etcd
//! lease), so a cluster's events do not grow without bound. Here a sweep
//! deletes every Event (both APIs) last seen more than the TTL ago.

use crate::resources::RESOURCES;
use crate::rest::table::event_last_seen;
use crate::state::AppState;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// kube-apiserver's `--event-ttl` default.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How often the sweep runs; an event lives at most TTL + this.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Delete the events last seen before `now - ttl`; returns how many went.
pub fn expire(st: &AppState, ttl: Duration, now: jiff::Timestamp) -> usize {
    let cutoff = now.as_second() - i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let mut gone = 0;
    for res in RESOURCES.iter().filter(|r| r.kind == "Event") {
        let (items, _) = st.store.list(&res.key(), None);
        for ev in items {
            if event_last_seen(&ev).is_some_and(|t| t.as_second() >= cutoff) {
                continue;
            }
            let at = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            let (ns, name) = (at("/metadata/namespace"), at("/metadata/name"));
            // Only the version we looked at: an event updated meanwhile
            // (counted again) stays.
            if st
                .store
                .delete(&res.key(), &ns, &name, crate::store::object_rv(&ev))
                .is_ok()
            {
                gone += 1;
            }
        }
    }
    gone
}

/// The sweep, forever; the server's task runs it beside its accept loop,
/// so it stops with the server.
pub async fn expiry_loop(st: Arc<AppState>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let st = st.clone();
        let n = tokio::task::spawn_blocking(move || expire(&st, EVENT_TTL, jiff::Timestamp::now()))
            .await
            .unwrap_or(0);
        if n > 0 {
            tracing::info!(expired = n, "events expired");
        }
    }
}
