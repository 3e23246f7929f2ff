//! Encodes resource records into the byte form the fast path splices into
//! responses. RDATA goes through hickory-proto's encoders (uncompressed, so
//! the bytes stay valid wherever they are copied); the RR framing is ours
//! so the owner can be a pointer to the question name.

use anyhow::{Context, Result};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::catalog::record::{rtype, Data};

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Pointer to offset 12: the question name, right after the header.
pub const QNAME_POINTER: [u8; 2] = [0xC0, 0x0C];

/// The SOA fields of a zone as CoreDNS fills them.
#[derive(Debug, Clone)]
pub struct SoaFields {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: i32,
    pub retry: i32,
    pub expire: i32,
    pub minimum: u32,
}

fn fqdn(name: &str) -> Result<Name> {
    let text = if name.is_empty() {
        ".".to_string()
    } else {
        format!("{}.", name.trim_end_matches('.'))
    };
    Name::from_ascii(&text).with_context(|| format!("invalid domain name {name:?}"))
}

fn emit<T: BinEncodable>(value: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_name_encoding(NameEncoding::Uncompressed);
        value.emit(&mut enc).context("encoding RDATA")?;
    }
    Ok(buf)
}

/// The RDATA bytes of one record.
pub fn rdata(data: &Data) -> Result<Vec<u8>> {
    match data {
        Data::A(ip) => emit(&A(*ip)),
        Data::Aaaa(ip) => emit(&AAAA(*ip)),
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => emit(&SRV::new(*priority, *weight, *port, fqdn(target)?)),
        Data::Ptr(target) => emit(&PTR(fqdn(target)?)),
        Data::Cname(target) => emit(&CNAME(fqdn(target)?)),
        Data::Txt(text) => emit(&TXT::new(vec![text.clone()])),
        Data::Exists => Ok(Vec::new()),
    }
}

/// SOA RDATA.
pub fn soa_rdata(soa: &SoaFields) -> Result<Vec<u8>> {
    emit(&SOA::new(
        fqdn(&soa.mname)?,
        fqdn(&soa.rname)?,
        soa.serial,
        soa.refresh,
        soa.retry,
        soa.expire,
        soa.minimum,
    ))
}

/// NS RDATA.
pub fn ns_rdata(target: &str) -> Result<Vec<u8>> {
    emit(&NS(fqdn(target)?))
}

/// Appends one RR: `owner` is raw wire bytes (a full name or a pointer).
pub fn push_rr(out: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// Appends an EDNS0 OPT pseudo-RR advertising `udp_size`.
pub fn push_opt(out: &mut Vec<u8>, udp_size: u16, ext_rcode: u8) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&udp_size.to_be_bytes());
    out.extend_from_slice(&[ext_rcode, 0, 0, 0]);
    out.extend_from_slice(&0u16.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_rdata_is_uncompressed_and_exact() {
        let b = rdata(&Data::Srv {
            priority: 0,
            weight: 100,
            port: 443,
            target: "web.default.svc.cluster.local".into(),
        })
        .unwrap();
        assert_eq!(&b[..6], &[0, 0, 0, 100, 1, 187]);
        assert_eq!(b[6], 3);
        assert_eq!(&b[7..10], b"web");
        assert_eq!(*b.last().unwrap(), 0);
        assert_eq!(b.len(), 6 + "web.default.svc.cluster.local".len() + 2);
    }

    #[test]
    fn soa_names_are_not_compressed_against_each_other() {
        let soa = SoaFields {
            mname: "ns.dns.cluster.local".into(),
            rname: "hostmaster.cluster.local".into(),
            serial: 7,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: 5,
        };
        let b = soa_rdata(&soa).unwrap();
        assert!(!b.iter().any(|&x| x & 0xC0 == 0xC0), "no pointer bytes expected");
        assert_eq!(&b[b.len() - 4..], &5u32.to_be_bytes());
    }

    #[test]
    fn rr_framing() {
        let mut out = Vec::new();
        push_rr(&mut out, &QNAME_POINTER, rtype::A, 5, &[10, 0, 0, 1]);
        assert_eq!(out, vec![0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
    }
}
