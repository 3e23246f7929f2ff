//! Recording core/v1 Events as client-go's recorder does: the first
//! occurrence is created (`<object>.<hex nanoseconds>`), a repeat of the same
//! (object, reason, message) within this process is counted on that event
//! (count + 1, lastTimestamp now) instead of adding another; an object's
//! budget and similar occurrences are judged first, as client-go's
//! correlator does (`event_correlation`). Recording never
//! holds up a reconcile or a pod's start: an occurrence is queued, and one
//! task (on the runtime the recorder was made in, so plain threads can
//! record too) writes the queue in order, as client-go's broadcaster does; a
//! failure is only logged. A task per event put every event of a burst in
//! flight at once: a node agent starting 50 pods held ~240 requests, their
//! bodies and HTTP/2 streams, and its heap kept the high-water mark. Past
//! QUEUED waiting occurrences new ones are dropped (client-go: 1000). A
//! node's recorder is also limited in rate, as the kubelet's event client is
//! (`event_rate`). Events also yield to the work they describe: the writer
//! holds its queue while its component keeps recording (or says it is
//! still busy: the scheduler while the pods it bound change), until it has been
//! quiet for `QUIET` or the first held event has waited `MAX_HOLD`
//! (`Quiet`). In a burst of 100 pod starts the ~400 Events (Scheduled,
//! Pulled, Created, Started) were more than half of the API server's
//! writes, made on the two cores the starts needed; they now follow the
//! burst, at most a second late. One recorder for every component that records (the
//! controllers, the scheduler, the node agents' kubelet role),
//! behind the `recorder` feature so the CNI program does not carry a client.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::event_correlation::{Correlator, Verdict, COMBINED};
use crate::event_rate::{EventRate, TokenBucket};
use crate::events::Reason;

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whole seconds, as the API serialises them.
fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    let t = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t),
    )
}

/// Past this many remembered events the memory is dropped (repeats then
/// start a new event, which the server expires after an hour anyway).
const REMEMBERED: usize = 4096;

/// Occurrences waiting for the writer; more are dropped with a log line.
const QUEUED: usize = 1000;

/// An occurrence's (namespace, object uid, object name, reason, message),
/// hashed: the map is kept by every node agent for its pods' starts (three
/// events each), and five strings per entry (the message alone tens of
/// bytes) made it ~1.5 KiB per pod. Two different occurrences with one
/// hash (odds 2^-64) would count on one event.
type Key = u64;

fn key(ns: &str, about: &ObjectReference, reason: Reason, message: &str) -> Key {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (ns, &about.uid, &about.name, reason, message).hash(&mut h);
    h.finish()
}

/// An event's name: its object's name and the nanoseconds of its first
/// occurrence, in hex (kept as the number, not the string, per event).
fn event_name(about: &ObjectReference, nanos: u64) -> String {
    format!("{}.{nanos:x}", about.name.as_deref().unwrap_or("object"))
}

/// A recorded occurrence as it waits for the writer: the object reference's
/// seven fields and the message in one allocation, joined by NUL (which no
/// field of a reference can hold; the message, last, may). Occurrences wait
/// while their component is busy (`Quiet`): a node agent starting 50 pods
/// holds ~150, and as an ObjectReference of seven Strings and a message
/// each took ~550 bytes in nine allocations, their pages stayed in the
/// agent's heap after the burst (~1.4 KiB per pod in bench_pods); packed,
/// ~190 bytes in two.
struct Occurrence {
    packed: Box<str>,
    reason: Reason,
}

impl Occurrence {
    fn pack(about: &ObjectReference, reason: Reason, message: &str) -> Self {
        let fields = [
            &about.api_version,
            &about.field_path,
            &about.kind,
            &about.name,
            &about.namespace,
            &about.resource_version,
            &about.uid,
        ];
        let mut packed = String::with_capacity(
            fields
                .iter()
                .map(|f| f.as_deref().map_or(0, str::len) + 1)
                .sum::<usize>()
                + message.len(),
        );
        for f in fields {
            packed.push_str(f.as_deref().unwrap_or_default());
            packed.push('\0');
        }
        packed.push_str(message);
        Occurrence {
            packed: packed.into_boxed_str(),
            reason,
        }
    }

    /// The reference (an empty field is an absent one) and the message.
    fn unpack(&self) -> (ObjectReference, String) {
        let mut parts = self.packed.splitn(8, '\0');
        let mut next = || {
            Some(parts.next().unwrap_or_default())
                .filter(|f| !f.is_empty())
                .map(String::from)
        };
        let about = ObjectReference {
            api_version: next(),
            field_path: next(),
            kind: next(),
            name: next(),
            namespace: next(),
            resource_version: next(),
            uid: next(),
        };
        (about, next().unwrap_or_default())
    }
}

/// How long a component must go without recording before its held
/// Events are written.
const QUIET: Duration = Duration::from_millis(100);

/// The longest an Event is held while its component keeps recording.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// When the component last recorded, shared by the recorder (which stamps
/// it) and its writer (which waits for quiet).
struct Quiet {
    base: Instant,
    /// Milliseconds since `base` of the latest occurrence.
    last_ms: AtomicU64,
}

impl Quiet {
    fn new() -> Self {
        Quiet {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn stamp(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How much longer to hold at `now`, the first held event having
    /// waited since `held_since`: None once the component has been quiet
    /// for `QUIET`, or the hold has reached `MAX_HOLD`.
    fn hold_for(&self, now: Instant, held_since: Instant) -> Option<Duration> {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        let idle = now.saturating_duration_since(self.base).saturating_sub(last);
        let quiet_left = QUIET.saturating_sub(idle);
        let hold_left = MAX_HOLD.saturating_sub(now.saturating_duration_since(held_since));
        Some(quiet_left.min(hold_left)).filter(|d| !d.is_zero())
    }
}

pub struct Recorder {
    quiet: Arc<Quiet>,
    /// Boxed: the channel keeps blocks of 32 slots for good, and an
    /// occurrence in place (an ObjectReference of seven strings) made each
    /// block ~6 KiB.
    queue: tokio::sync::mpsc::Sender<Box<Occurrence>>,
    /// What the writer calls once its queue is empty (`when_drained`).
    drained: Arc<std::sync::OnceLock<fn()>>,
}

/// What the writer task owns.
struct Writer {
    client: Client,
    component: &'static str,
    /// The node, for what a node agent records (`source.host`).
    host: Option<String>,
    /// Key → (the event's first nanoseconds, count so far).
    seen: HashMap<Key, (u64, i32)>,
    /// Budgets and similar occurrences (`event_correlation`).
    correlator: Correlator,
    /// Writes per second, when limited (`event_rate`).
    rate: Option<TokenBucket>,
}

impl Recorder {
    /// A recorder for `component`; call it inside a Tokio runtime (its
    /// writes run there, whichever thread records).
    pub fn new(client: Client, component: &'static str) -> Arc<Self> {
        Self::on_host(client, component, None)
    }

    /// A node's recorder: its events name the node as their source host.
    pub fn on_host(client: Client, component: &'static str, host: Option<String>) -> Arc<Self> {
        Self::limited(client, component, host, EventRate::UNLIMITED)
    }

    /// A recorder whose writes (creates and count updates alike) are
    /// limited to `rate`.
    pub fn limited(
        client: Client,
        component: &'static str,
        host: Option<String>,
        rate: EventRate,
    ) -> Arc<Self> {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<Box<Occurrence>>(QUEUED);
        let mut w = Writer {
            client,
            component,
            host,
            seen: HashMap::new(),
            correlator: Correlator::default(),
            rate: rate.bucket(std::time::Instant::now()),
        };
        let quiet = Arc::new(Quiet::new());
        let stamps = quiet.clone();
        let drained = Arc::new(std::sync::OnceLock::<fn()>::new());
        let after_drain = drained.clone();
        // Ends when the last Recorder is dropped.
        tokio::runtime::Handle::current().spawn(async move {
            // Since when the queue has held events: reset once it is empty.
            let mut held_since = None;
            while let Some(o) = rx.recv().await {
                let since = *held_since.get_or_insert_with(Instant::now);
                while let Some(wait) = stamps.hold_for(Instant::now(), since) {
                    tokio::time::sleep(wait).await;
                }
                let reason = o.reason;
                if let Err(e) = w.write(*o).await {
                    tracing::debug!(error = %e, reason = reason.as_str(), "recording an event");
                }
                if rx.is_empty() {
                    held_since = None;
                    if let Some(f) = after_drain.get() {
                        f();
                    }
                }
            }
        });
        Arc::new(Recorder {
            quiet,
            queue,
            drained,
        })
    }

    /// Call `f` each time the writer has emptied its queue: after a burst,
    /// once the Events it held are written (at most once per held batch,
    /// as a batch is written only after a quiet spell). A node agent gives
    /// the memory those writes used back to the system there
    /// (`malloc_trim`), which its own end of the burst came too early for.
    /// Set once; a second call is ignored.
    pub fn when_drained(&self, f: fn()) {
        let _ = self.drained.set(f);
    }

    /// The component is still at work, though it records nothing: its
    /// held Events wait as if it had recorded (`Quiet`). The scheduler
    /// binds a burst's last pod while the nodes are still starting the
    /// pods, and its 100 Scheduled Events were written then, on the cores
    /// those starts needed; it calls this for every pod change it sees, so
    /// they follow the burst as the node agents' Events do.
    pub fn busy(&self) {
        self.quiet.stamp();
    }

    /// Record that `reason` happened to `about` (in its namespace).
    pub fn record(self: &Arc<Self>, about: ObjectReference, reason: Reason, message: String) {
        self.quiet.stamp();
        let o = Box::new(Occurrence::pack(&about, reason, &message));
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(o)) = self.queue.try_send(o) {
            tracing::warn!(
                reason = o.reason.as_str(),
                "dropping an event: {QUEUED} are waiting to be written"
            );
        }
    }
}

impl Writer {
    async fn write(&mut self, o: Occurrence) -> Result<(), kube::Error> {
        let reason = o.reason;
        let (about, message) = o.unpack();
        let ns = about.namespace.clone().unwrap_or_else(|| "default".into());
        let object = (&ns, &about.kind, &about.name, &about.uid);
        let own = key(&ns, &about, reason, &message);
        let new_message = !self.seen.contains_key(&own);
        let (message, key) = match self.correlator.judge(object, reason.as_str(), new_message) {
            Verdict::Own => (message, own),
            // Every combined occurrence counts on the one event.
            Verdict::Combined => (format!("{COMBINED}{message}"), key(&ns, &about, reason, COMBINED)),
            Verdict::Dropped => {
                tracing::debug!(reason = reason.as_str(), object = ?about.name, "event dropped: the object's budget is spent");
                return Ok(());
            }
        };
        // What was dropped above took no token: the limit is on requests.
        if let Some(bucket) = self.rate.as_mut() {
            let wait = bucket.reserve(std::time::Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let repeat = self.seen.get_mut(&key).map(|(nanos, count)| {
            *count += 1;
            (*nanos, *count)
        });
        if let Some((nanos, count)) = repeat {
            // The message too: a combined event shows the latest one.
            let patch = json!({"count": count, "lastTimestamp": now(), "message": message});
            match api
                .patch(
                    &event_name(&about, nanos),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => return Ok(()),
                // Expired (an hour old) or deleted: start a new one.
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        let t = now();
        // Nanoseconds of the clock itself (`now()` keeps whole seconds), so
        // two events of one object in one second get two names.
        let nanos = u64::try_from(k8s_openapi::jiff::Timestamp::now().as_nanosecond()).unwrap_or(0);
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(event_name(&about, nanos)),
                namespace: Some(ns),
                ..Default::default()
            },
            involved_object: about,
            reason: Some(reason.as_str().into()),
            message: Some(message),
            type_: Some(reason.event_type().as_str().into()),
            count: Some(1),
            first_timestamp: Some(t.clone()),
            last_timestamp: Some(t),
            source: Some(EventSource {
                component: Some(self.component.into()),
                host: self.host.clone(),
            }),
            reporting_component: Some(self.component.into()),
            reporting_instance: Some(self.component.into()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev).await?;
        if self.seen.len() >= REMEMBERED {
            self.seen.clear();
        }
        self.seen.insert(key, (nanos, 1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occurrence_unpacks_to_what_was_recorded() {
        let about = ObjectReference {
            api_version: Some("v1".into()),
            field_path: Some("spec.containers{web}".into()),
            kind: Some("Pod".into()),
            name: Some("web-1".into()),
            namespace: Some("shop".into()),
            resource_version: None,
            uid: Some("0b1e-77".into()),
        };
        let message = "Started container web\0 (a NUL in a message is kept)";
        let o = Occurrence::pack(&about, Reason::Started, message);
        assert_eq!(o.unpack(), (about, message.to_string()));
        let bare = Occurrence::pack(&ObjectReference::default(), Reason::Started, "");
        assert_eq!(bare.unpack(), (ObjectReference::default(), String::new()));
    }

    #[test]
    fn held_events_wait_for_a_quiet_spell_but_never_past_the_longest_hold() {
        let q = Quiet::new();
        let t0 = q.base;
        let ms = Duration::from_millis;
        // Recorded at 0: held until 100 ms of quiet.
        assert_eq!(q.hold_for(t0 + ms(30), t0), Some(ms(70)));
        assert_eq!(q.hold_for(t0 + ms(100), t0), None);
        // Recording again at 250 ms restarts the quiet spell.
        q.last_ms.store(250, Ordering::Relaxed);
        assert_eq!(q.hold_for(t0 + ms(300), t0), Some(ms(50)));
        // A component that never stops recording: written at MAX_HOLD.
        q.last_ms.store(960, Ordering::Relaxed);
        assert_eq!(q.hold_for(t0 + ms(970), t0), Some(ms(30)));
        q.last_ms.store(1000, Ordering::Relaxed);
        assert_eq!(q.hold_for(t0 + MAX_HOLD, t0), None);
        // The hold counts from the first held event, not from the base.
        assert_eq!(q.hold_for(t0 + ms(1050), t0 + ms(1000)), Some(ms(50)));
    }

    /// Recording never waits for the API: with the writer not running
    /// (a runtime nobody drives), QUEUED occurrences wait and the next is
    /// dropped at once.
    #[test]
    fn recording_queues_up_to_its_bound_and_never_blocks() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _in = rt.enter();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let rec = Recorder::new(Client::try_from(config).unwrap(), "test");
        let about = ObjectReference {
            name: Some("web-1".into()),
            ..Default::default()
        };
        for i in 0..=QUEUED {
            rec.record(about.clone(), Reason::Started, format!("n{i}"));
        }
        assert_eq!(rec.queue.capacity(), 0);
        assert_eq!(rec.queue.max_capacity(), QUEUED);
    }

    #[test]
    fn an_event_is_named_by_its_object_and_first_nanoseconds() {
        let about = ObjectReference {
            name: Some("web-1".into()),
            ..Default::default()
        };
        assert_eq!(event_name(&about, 0x187a), "web-1.187a");
        assert_eq!(event_name(&ObjectReference::default(), 1), "object.1");
    }

    #[test]
    fn an_occurrence_is_known_again_by_every_part_of_it() {
        let pod = |uid: &str| ObjectReference {
            name: Some("web-1".into()),
            uid: Some(uid.into()),
            ..Default::default()
        };
        let k = key("ns", &pod("u1"), Reason::Started, "Started container web");
        assert_eq!(k, key("ns", &pod("u1"), Reason::Started, "Started container web"));
        for other in [
            key("ns2", &pod("u1"), Reason::Started, "Started container web"),
            key("ns", &pod("u2"), Reason::Started, "Started container web"),
            key("ns", &pod("u1"), Reason::Created, "Started container web"),
            key("ns", &pod("u1"), Reason::Started, "Started container db"),
        ] {
            assert_ne!(k, other);
        }
    }
}
