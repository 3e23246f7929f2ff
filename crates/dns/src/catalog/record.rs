//! The catalog's record model: what the Kubernetes objects say, before it is
//! compiled into wire-format answers.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Record data the cluster DNS serves. Names are normalised text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Ptr(String),
    Cname(String),
    Txt(String),
    /// No data: the name exists (answers NODATA rather than NXDOMAIN).
    Exists,
}

impl Data {
    /// The RR type code.
    pub fn rtype(&self) -> u16 {
        match self {
            Data::A(_) => 1,
            Data::Aaaa(_) => 28,
            Data::Srv { .. } => 33,
            Data::Ptr(_) => 12,
            Data::Cname(_) => 5,
            Data::Txt(_) => 16,
            Data::Exists => 0,
        }
    }
}

/// Who contributed a record; when several objects claim the same reverse
/// name, the most specific source wins (a Service IP beats an endpoint
/// hostname, which beats the generic pod name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Service = 0,
    Endpoint = 1,
    Pod = 2,
}

/// One resource record: owner name (normalised), data, and its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rec {
    pub name: String,
    pub data: Data,
    pub source: Source,
}

impl Rec {
    pub fn new(name: impl Into<String>, data: Data, source: Source) -> Self {
        Rec {
            name: name.into(),
            data,
            source,
        }
    }
}

/// RR type codes used across the crate.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}
