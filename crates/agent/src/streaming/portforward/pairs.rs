//! The port-forward protocol (`portforward.k8s.io`) over SPDY streams: for
//! each forwarded connection the client opens an error stream and a data
//! stream carrying the same `port` and `requestid` headers; once both are
//! there the server connects to the port inside the pod.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};

use crate::streaming::spdy::headers::{get, Headers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Error,
    Data,
}

/// One stream the client opened, its headers checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub id: u32,
    pub kind: Kind,
    pub port: u16,
    pub request: String,
}

/// Check a new stream's headers (the kubelet's rules and messages).
pub fn parse(id: u32, h: &Headers) -> Result<Opened> {
    let port = get(h, "port").ok_or_else(|| anyhow!("\"port\" header is required"))?;
    let port: u16 = port
        .parse()
        .map_err(|e| anyhow!("unable to parse {port:?} as a port: {e}"))?;
    if port == 0 {
        bail!("port \"0\" must be > 0");
    }
    let kind = match get(h, "streamtype") {
        None => bail!("\"streamType\" header is required"),
        Some("error") => Kind::Error,
        Some("data") => Kind::Data,
        Some(other) => bail!("invalid stream type {other:?}"),
    };
    // Clients older than request ids open error then data streams back to
    // back: their ids are n and n + 2.
    let request = match get(h, "requestid") {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => match kind {
            Kind::Error => id.to_string(),
            Kind::Data => id.saturating_sub(2).to_string(),
        },
    };
    Ok(Opened {
        id,
        kind,
        port,
        request,
    })
}

/// Both streams of one forwarded connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub request: String,
    pub port: u16,
    pub error: u32,
    pub data: u32,
}

/// A request's error stream, and its data stream with the port.
type Halves = (Option<u32>, Option<(u32, u16)>);

/// Streams waiting for their other half.
#[derive(Default)]
pub struct Pairs {
    open: HashMap<String, Halves>,
}

impl Pairs {
    /// Add a stream; the pair once it is complete.
    pub fn add(&mut self, s: Opened) -> Result<Option<Pair>> {
        let slot = self.open.entry(s.request.clone()).or_default();
        match s.kind {
            Kind::Error if slot.0.is_some() => bail!("error stream already assigned"),
            Kind::Data if slot.1.is_some() => bail!("data stream already assigned"),
            Kind::Error => slot.0 = Some(s.id),
            Kind::Data => slot.1 = Some((s.id, s.port)),
        }
        if let (Some(error), Some((data, port))) = *slot {
            self.open.remove(&s.request);
            return Ok(Some(Pair {
                request: s.request,
                port,
                error,
                data,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn error_then_data_make_a_pair() {
        let mut p = Pairs::default();
        let e = parse(
            1,
            &h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
        )
        .unwrap();
        let d = parse(
            3,
            &h(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
        )
        .unwrap();
        assert_eq!(p.add(e).unwrap(), None);
        assert_eq!(
            p.add(d).unwrap(),
            Some(Pair {
                request: "0".into(),
                port: 80,
                error: 1,
                data: 3
            })
        );
        // Without request ids the stream ids pair them.
        let e = parse(5, &h(&[("streamtype", "error"), ("port", "81")])).unwrap();
        let d = parse(7, &h(&[("streamtype", "data"), ("port", "81")])).unwrap();
        assert_eq!(p.add(d).unwrap(), None);
        assert_eq!(p.add(e).unwrap().map(|x| (x.error, x.data)), Some((5, 7)));
    }

    #[test]
    fn bad_headers_name_the_header() {
        let msg = |x: &[(&str, &str)]| format!("{:#}", parse(1, &h(x)).unwrap_err());
        assert!(msg(&[("streamtype", "data")]).contains("\"port\" header is required"));
        assert!(msg(&[("port", "http"), ("streamtype", "data")]).contains("\"http\" as a port"));
        assert!(msg(&[("port", "0"), ("streamtype", "data")]).contains("must be > 0"));
        assert!(msg(&[("port", "80")]).contains("\"streamType\" header is required"));
        assert!(msg(&[("port", "80"), ("streamtype", "ctl")]).contains("invalid stream type"));
        let mut p = Pairs::default();
        let d = parse(
            3,
            &h(&[("streamtype", "data"), ("port", "80"), ("requestid", "9")]),
        )
        .unwrap();
        p.add(d.clone()).unwrap();
        assert!(format!("{:#}", p.add(d).unwrap_err()).contains("data stream already assigned"));
    }
}
