//! What a trace is: the request, the capture points, every packet with its
//! hops, and the notes the annotators attached.

use std::time::Duration;

use serde::Serialize;

use crate::capture::{CapturePoint, Frame};
use crate::decode::{Decoded, DnsInfo, Packet};

/// What to trace: `labyrinth trace FROM TO:PORT`.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// `namespace/pod`.
    pub from: String,
    /// An IP address or a name the source pod resolves.
    pub to: String,
    pub port: u16,
    pub udp: bool,
}

/// One sighting of a packet at a capture point.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// Index into `Trace::points`.
    pub point: usize,
    /// Seconds since the first captured frame.
    pub t: f64,
    /// Sent by the device (else received by it).
    pub outgoing: bool,
    pub summary: String,
    pub decoded: Decoded,
    /// Index into `Trace::frames`.
    #[serde(skip)]
    pub frame: usize,
}

/// One packet followed across every point it crossed.
#[derive(Debug, Clone, Serialize)]
pub struct PacketTrace {
    pub id: usize,
    /// DNS, or the flow traced (TCP/UDP to the port), or ICMP.
    pub kind: Kind,
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dns,
    Flow,
    Icmp,
}

/// An explanation, attached to a packet's hop or to the whole trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Which annotator: dns, route, encap, decap, delivery, drop, service…
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<usize>,
    /// The capture point (node / namespace / device) it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<usize>,
    pub text: String,
}

impl Note {
    pub fn new(kind: &str, text: impl Into<String>) -> Note {
        Note {
            kind: kind.into(),
            packet: None,
            hop: None,
            point: None,
            text: text.into(),
        }
    }

    pub fn at(mut self, packet: usize, hop: usize, point: usize) -> Note {
        self.packet = Some(packet);
        self.hop = Some(hop);
        self.point = Some(point);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub lab: String,
    pub request: Request,
    pub points: Vec<CapturePoint>,
    /// Planned points whose device does not exist.
    pub absent: Vec<CapturePoint>,
    /// Frames the kernel dropped per point (capture loss).
    pub capture_drops: Vec<u64>,
    pub packets: Vec<PacketTrace>,
    pub notes: Vec<Note>,
    /// Time of the first frame, since the epoch.
    #[serde(skip)]
    pub start: Duration,
    #[serde(skip)]
    pub frames: Vec<Frame>,
}

impl Trace {
    pub fn point(&self, hop: &Hop) -> &CapturePoint {
        &self.points[hop.point]
    }

    /// Packets of the traced flow (not DNS, not ICMP).
    pub fn flow(&self) -> impl Iterator<Item = &PacketTrace> {
        self.packets.iter().filter(|p| p.kind == Kind::Flow)
    }

    /// Every DNS answer with the packet that carried it, as first seen
    /// (before any reverse translation).
    pub fn dns_answers(&self) -> impl Iterator<Item = (&PacketTrace, &Packet, &DnsInfo)> {
        self.packets
            .iter()
            .filter(|p| p.kind == Kind::Dns)
            .filter_map(|p| {
                let pkt = p.hops.first()?.decoded.packet.as_ref()?;
                let dns = pkt.dns.as_ref().filter(|d| d.response)?;
                Some((p, pkt, dns))
            })
    }

    /// Every packet, the traced flow's first: an explanation given once
    /// (a route, a tunnel) then sits on the flow's own hops, where the
    /// story tells it, and not on a DNS packet that went the same way.
    pub fn flow_first(&self) -> impl Iterator<Item = &PacketTrace> {
        self.flow()
            .chain(self.packets.iter().filter(|p| p.kind != Kind::Flow))
    }
}
