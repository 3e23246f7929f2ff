//! Trace events from the `lby_events` ring buffer, turned into flow lines
//! like `hubble observe`: time, source → destination, the point, the
//! verdict, and for translated flows the Service and chosen backend.

use std::fmt;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aya::maps::{HashMap, Map, MapData, RingBuf};
use labyrinth_contracts::bpf::IpProto;
use serde::Serialize;

use crate::abi::*;
use crate::dump::monotonic_ns;

pub const POINTS: [&str; 9] = [
    "?",
    "from-endpoint",
    "to-endpoint",
    "to-overlay",
    "from-overlay",
    "to-stack",
    "drop",
    "to-network",
    "from-network",
];

pub fn drop_reason(r: u8) -> &'static str {
    match r {
        1 => "no service backends",
        2 => "no tunnel endpoint",
        3 => "service backend missing",
        4 => "packet rewrite failed",
        5 => "no route",
        labyrinth_contracts::bpf::policy::DROP_POLICY_INGRESS => {
            "policy: isolated for ingress, no rule allows (default deny)"
        }
        labyrinth_contracts::bpf::policy::DROP_POLICY_EGRESS => {
            "policy: isolated for egress, no rule allows (default deny)"
        }
        _ => "unknown",
    }
}

/// One event, decoded and named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub time: SystemTime,
    pub point: &'static str,
    pub verdict: &'static str,
    pub drop_reason: Option<&'static str>,
    pub proto: String,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub tcp_flags: Vec<&'static str>,
    /// "ns/name:port" of the Service for translated flows.
    pub service: Option<String>,
    /// The ClusterIP:port (DNAT) the client used.
    pub frontend: Option<SocketAddrV4>,
    /// The backend the flow goes to / the reply came from.
    pub backend: Option<SocketAddrV4>,
    pub reply: bool,
    pub ifindex: u32,
    pub len: u32,
    /// A policy drop's pod and isolating policies ("x/b isolated for
    /// ingress by x/deny-all"), from the agent's names file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

fn flags(f: u8) -> Vec<&'static str> {
    [
        (0x02, "SYN"),
        (0x10, "ACK"),
        (0x01, "FIN"),
        (0x04, "RST"),
        (0x08, "PSH"),
    ]
    .iter()
    .filter(|(b, _)| f & b != 0)
    .map(|(_, n)| *n)
    .collect()
}

impl Flow {
    /// `name_of` maps a service id to its name; `boot` converts the
    /// programs' monotonic clock to wall time.
    pub fn from_event(e: &TraceEvent, name_of: impl Fn(u16) -> Option<String>, boot: SystemTime) -> Flow {
        let point = POINTS.get(usize::from(e.point)).copied().unwrap_or("?");
        let translated = e.xlate != 0 && e.rev_nat_index != 0;
        let other = sock_of(e.orig_daddr, e.orig_dport);
        let (src, dst) = (sock_of(e.saddr, e.sport), sock_of(e.daddr, e.dport));
        // A from-endpoint event is seen before translation: nothing to add.
        let dnat = e.xlate == 1;
        Flow {
            time: boot + Duration::from_nanos(e.ts_ns),
            point,
            verdict: match e.point {
                6 => "DROPPED",
                1 | 4 | 8 => "TRACED",
                _ => "FORWARDED",
            },
            drop_reason: (e.point == 6).then(|| drop_reason(e.reason)),
            proto: IpProto(e.proto).to_string(),
            src,
            dst,
            tcp_flags: if e.proto == PROTO_TCP {
                flags(e.tcp_flags)
            } else {
                vec![]
            },
            service: (e.rev_nat_index != 0)
                .then(|| name_of(e.rev_nat_index).unwrap_or_else(|| format!("service #{}", e.rev_nat_index))),
            frontend: if dnat {
                Some(other)
            } else if translated {
                Some(src)
            } else {
                None
            },
            backend: if dnat && e.point != 6 {
                Some(dst)
            } else if translated {
                Some(other)
            } else {
                None
            },
            reply: e.xlate == 2,
            ifindex: e.ifindex,
            len: e.len,
            policy: None,
        }
    }
}

/// HH:MM:SS.micro (UTC), as a flow line starts.
fn clock(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_micros()
    )
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} -> {} {} {}",
            clock(self.time),
            self.proto,
            self.src,
            self.dst,
            self.point,
            self.verdict
        )?;
        if let Some(r) = self.drop_reason {
            write!(f, " ({r})")?;
        }
        if let Some(p) = &self.policy {
            write!(f, " [{p}]")?;
        }
        if let Some(svc) = &self.service {
            match (self.reply, self.frontend, self.backend) {
                (true, _, Some(b)) => write!(f, " reply of service {svc} from backend {b}")?,
                (false, Some(fe), Some(b)) => write!(f, " service {svc} ({fe} -> backend {b})")?,
                (_, Some(fe), None) => write!(f, " service {svc} ({fe})")?,
                _ => write!(f, " service {svc}")?,
            }
        }
        if !self.tcp_flags.is_empty() {
            write!(f, " [{}]", self.tcp_flags.join(", "))?;
        }
        Ok(())
    }
}

/// A reader of the pinned ring buffer (one consumer at a time: two
/// readers would split the events between them).
pub struct EventReader {
    ring: RingBuf<MapData>,
    names: HashMap<MapData, u16, Lb4Name>,
    boot: SystemTime,
}

impl EventReader {
    pub fn open(pin_dir: &Path) -> Result<EventReader> {
        let path = pin_dir.join(EVENTS_MAP);
        let ring = MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
        let ring = RingBuf::try_from(Map::RingBuf(ring))?;
        let names = MapData::from_pin(pin_dir.join(NAMES_MAP)).context("opening the service names map")?;
        let names = HashMap::try_from(Map::HashMap(names))?;
        let boot = SystemTime::now() - Duration::from_nanos(monotonic_ns());
        Ok(EventReader { ring, names, boot })
    }

    /// Events waiting now, after waiting up to `timeout` for the first.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<Flow>> {
        let mut out = self.drain();
        if out.is_empty() {
            let mut pfd = libc::pollfd {
                fd: self.ring.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
            out = self.drain();
        }
        Ok(out)
    }

    fn drain(&mut self) -> Vec<Flow> {
        let mut events = Vec::new();
        while let Some(item) = self.ring.next() {
            if let Some(e) = TraceEvent::from_bytes(&item) {
                events.push(e);
            }
        }
        let names = &self.names;
        events
            .iter()
            .map(|e| Flow::from_event(e, |id| names.get(&id, 0).ok().map(|n| n.as_str()), self.boot))
            .collect()
    }
}
