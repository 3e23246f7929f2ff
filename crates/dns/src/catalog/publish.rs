//! From watch changes to published snapshots: every pending change is
//! applied before a compile, a compile happens only when a record changed,
//! and at most one per [`MIN_INTERVAL`].
//!
//! A compile is O(catalog), and in a burst of pods each status update that
//! gives a pod its address arrives alone: one compile per event made a burst
//! of N pods cost O(N²) per DNS replica. The interval bounds that; a new
//! record waits at most that long (kube-proxy's minSyncPeriod is the same
//! trade, at a second).

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::{Change, Store};

pub const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Apply `rx`'s changes to `store` until the channel closes, calling
/// `publish` after each batch that changed a record.
pub async fn run(store: &mut Store, rx: &mut UnboundedReceiver<Change>, mut publish: impl FnMut(&mut Store)) {
    let mut last: Option<Instant> = None;
    while let Some(change) = rx.recv().await {
        store.apply(change);
        if let Some(due) = last.map(|t| t + MIN_INTERVAL) {
            // Gather what arrives until the next compile is due.
            loop {
                tokio::select! {
                    biased;
                    more = rx.recv() => match more {
                        Some(c) => store.apply(c),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(due) => break,
                }
            }
        }
        while let Ok(more) = rx.try_recv() {
            store.apply(more);
        }
        if store.take_changed() {
            publish(store);
            last = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testutil::{ask, pod};
    use crate::catalog::ZoneConfig;

    /// A burst: 100 pods get their addresses 1 ms apart. Every address is
    /// published, in far fewer compiles than events, none closer than the
    /// interval. (Tokio's paused clock: no real time passes.)
    #[tokio::test(start_paused = true)]
    async fn a_burst_is_published_in_few_compiles_and_completely() {
        let mut store = Store::new(ZoneConfig::new("cluster.local"));
        store.take_changed();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let feeder = tokio::spawn(async move {
            for i in 0..100 {
                let ip = format!("10.244.1.{}", i + 1);
                tx.send(Change::Apply(pod(
                    "default",
                    &format!("p{i}"),
                    "",
                    "Pending",
                    false,
                )))
                .unwrap();
                tx.send(Change::Apply(pod(
                    "default",
                    &format!("p{i}"),
                    &ip,
                    "Running",
                    false,
                )))
                .unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let mut at = Vec::new();
        let mut last_pods = 0;
        run(&mut store, &mut rx, |s| {
            at.push(Instant::now());
            let snap = s.snapshot().unwrap();
            last_pods = (1..=100)
                .filter(|i| {
                    let name = format!("10-244-1-{i}.default.pod.cluster.local.");
                    !ask(&snap, &name, hickory_proto::rr::RecordType::A)
                        .answers
                        .is_empty()
                })
                .count();
        })
        .await;
        feeder.await.unwrap();
        assert_eq!(last_pods, 100, "the last publish holds every pod");
        assert!(at.len() <= 100 / 20 + 2, "{} compiles for 100 events", at.len());
        assert!(at.windows(2).all(|w| w[1] - w[0] >= MIN_INTERVAL));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_change_is_published_at_once_and_no_change_not_at_all() {
        let mut store = Store::new(ZoneConfig::new("cluster.local"));
        store.take_changed();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(Change::Apply(pod("default", "a", "", "Pending", false)))
            .unwrap();
        tx.send(Change::Apply(pod("default", "b", "10.244.1.2", "Running", false)))
            .unwrap();
        drop(tx);
        let start = Instant::now();
        let mut at = Vec::new();
        run(&mut store, &mut rx, |_| at.push(Instant::now() - start)).await;
        assert_eq!(at, vec![Duration::ZERO]);
    }
}
