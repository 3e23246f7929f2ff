//! DNS messages in a flow: what was asked and what came back (an address,
//! no such name with the zone's SOA, or no data), in tshark's words.

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RData;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsInfo {
    pub id: u16,
    pub response: bool,
    /// NoError, NXDomain, ServFail, …
    pub rcode: String,
    pub qname: String,
    pub qtype: String,
    /// Answers as `TYPE data`, e.g. `A 10.96.0.5`.
    pub answers: Vec<String>,
    /// The SOA's primary name server, when the authority section has one.
    pub soa: Option<String>,
}

pub fn parse(payload: &[u8]) -> Option<DnsInfo> {
    let m = Message::from_vec(payload).ok()?;
    let q = m.queries.first();
    Some(DnsInfo {
        id: m.metadata.id,
        response: m.metadata.message_type == MessageType::Response,
        rcode: format!("{:?}", m.metadata.response_code),
        qname: q.map(|q| trim_dot(&q.name().to_string())).unwrap_or_default(),
        qtype: q.map(|q| q.query_type().to_string()).unwrap_or_default(),
        answers: m
            .answers
            .iter()
            .map(|r| format!("{} {}", r.record_type(), rdata(&r.data)))
            .collect(),
        soa: m.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(trim_dot(&soa.mname.to_string())),
            _ => None,
        }),
    })
}

fn rdata(d: &RData) -> String {
    match d {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => trim_dot(&c.0.to_string()),
        other => trim_dot(&other.to_string()),
    }
}

fn trim_dot(s: &str) -> String {
    s.trim_end_matches('.').to_string()
}

impl DnsInfo {
    /// The verdict of a response: `NXDOMAIN`, `NODATA` or the answers.
    pub fn outcome(&self) -> String {
        if !self.response {
            return "query".into();
        }
        if self.rcode == "NXDomain" {
            return "NXDOMAIN".into();
        }
        if self.rcode != "NoError" {
            return self.rcode.to_uppercase();
        }
        if self.answers.is_empty() {
            return "NODATA".into();
        }
        self.answers.join(", ")
    }

    /// `A name → NXDOMAIN (SOA ns…)`: the question and its verdict.
    pub fn verdict(&self) -> String {
        let mut s = format!("{} {} → {}", self.qtype, self.qname, self.outcome());
        if let Some(soa) = &self.soa {
            s.push_str(&format!(" (SOA {soa})"));
        }
        s
    }

    /// tshark's Info column: `Standard query 0x1c2a A name` or
    /// `Standard query response 0x1c2a No such name A name SOA ns…`.
    pub fn summary(&self) -> String {
        let mut s = if self.response {
            format!("Standard query response 0x{:04x}", self.id)
        } else {
            format!("Standard query 0x{:04x}", self.id)
        };
        match self.rcode.as_str() {
            "NoError" => {}
            "NXDomain" => s.push_str(" No such name"),
            other => s.push_str(&format!(" {other}")),
        }
        s.push_str(&format!(" {} {}", self.qtype, self.qname));
        for a in &self.answers {
            s.push_str(&format!(" {a}"));
        }
        if let Some(soa) = &self.soa {
            s.push_str(&format!(" SOA {soa}"));
        }
        s
    }
}
