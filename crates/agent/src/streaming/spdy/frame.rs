//! SPDY/3.1 frames as a server reads and writes them: a control frame is
//! `1 | version(15) | type(16)`, `flags(8) | length(24)`, payload; a data
//! frame is `0 | stream id(31)`, `flags(8) | length(24)`, data. Bytes come in
//! pieces (websocket messages or TCP reads); whole frames come out.

use anyhow::{bail, ensure, Result};

use super::headers::{self, Deflater, Headers, Inflater};

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
/// FLAG_FIN, on control and data frames alike.
const FIN: u8 = 0x01;
/// Frames larger than this are refused (the protocol allows 16 MiB; kubectl
/// writes 32 KiB at a time).
pub const MAX_FRAME: usize = 1 << 20;

/// RST_STREAM status codes used here.
pub const REFUSED_STREAM: u32 = 3;

/// A frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    SynStream {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    Data {
        id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    RstStream {
        id: u32,
    },
    Ping(u32),
    GoAway,
    /// SETTINGS, WINDOW_UPDATE, HEADERS (inflated, to keep the header
    /// stream in step) and anything newer: nothing to do.
    Ignored(u16),
}

/// Reassembles frames from the client's bytes.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    inflater: Inflater,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Reader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if it has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Incoming>> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let (w0, w1) = (be32(&self.buf[0..4]), be32(&self.buf[4..8]));
        let flags = (w1 >> 24) as u8;
        let len = (w1 & 0x00ff_ffff) as usize;
        ensure!(
            len <= MAX_FRAME,
            "frame of {len} bytes is over the {MAX_FRAME}-byte limit"
        );
        if self.buf.len() < 8 + len {
            return Ok(None);
        }
        let payload: Vec<u8> = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        let fin = flags & FIN != 0;
        if w0 & 0x8000_0000 == 0 {
            let id = w0 & 0x7fff_ffff;
            ensure!(id != 0, "data frame on stream 0");
            return Ok(Some(Incoming::Data {
                id,
                fin,
                data: payload,
            }));
        }
        let version = ((w0 >> 16) & 0x7fff) as u16;
        ensure!(
            version == VERSION,
            "SPDY version {version}, this server speaks {VERSION}"
        );
        let kind = (w0 & 0xffff) as u16;
        let need = |n: usize| -> Result<()> {
            ensure!(
                payload.len() >= n,
                "control frame {kind} of {} bytes, want {n}",
                payload.len()
            );
            Ok(())
        };
        Ok(Some(match kind {
            SYN_STREAM => {
                need(10)?;
                let id = be32(&payload[0..4]) & 0x7fff_ffff;
                let block = self.inflater.inflate(&payload[10..])?;
                let headers = headers::decode(&block)?;
                ensure!(id != 0, "SYN_STREAM for stream 0");
                Incoming::SynStream { id, fin, headers }
            }
            SYN_REPLY | HEADERS => {
                need(4)?;
                self.inflater.inflate(&payload[4..])?;
                Incoming::Ignored(kind)
            }
            RST_STREAM => {
                need(8)?;
                Incoming::RstStream {
                    id: be32(&payload[0..4]) & 0x7fff_ffff,
                }
            }
            PING => {
                need(4)?;
                Incoming::Ping(be32(&payload[0..4]))
            }
            GOAWAY => Incoming::GoAway,
            other => Incoming::Ignored(other),
        }))
    }
}

/// A frame to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    SynReply(u32),
    Data { id: u32, fin: bool, data: Vec<u8> },
    RstStream { id: u32, status: u32 },
    Ping(u32),
    GoAway,
}

/// Encodes frames to the client, in the order they are sent (the header
/// stream is one zlib stream).
#[derive(Default)]
pub struct Writer {
    deflater: Deflater,
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000_0000u32 | u32::from(VERSION) << 16 | u32::from(kind)).to_be_bytes());
    out.extend_from_slice(&(u32::from(flags) << 24 | payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

impl Writer {
    pub fn encode(&mut self, f: &Outgoing) -> Result<Vec<u8>> {
        Ok(match f {
            Outgoing::SynReply(id) => {
                let mut p = id.to_be_bytes().to_vec();
                p.extend(self.deflater.deflate(&headers::encode(&Headers::new())));
                control(SYN_REPLY, 0, &p)
            }
            Outgoing::Data { id, fin, data } => {
                if data.len() > MAX_FRAME {
                    bail!("data frame of {} bytes is over the limit", data.len());
                }
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
                let flags = if *fin { FIN } else { 0 };
                out.extend_from_slice(&(u32::from(flags) << 24 | data.len() as u32).to_be_bytes());
                out.extend_from_slice(data);
                out
            }
            Outgoing::RstStream { id, status } => {
                let mut p = id.to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &p)
            }
            Outgoing::Ping(id) => control(PING, 0, &id.to_be_bytes()),
            // Last good stream: none we started (the client starts them all).
            Outgoing::GoAway => control(GOAWAY, 0, &[0; 8]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's SYN_STREAM as the wire carries it, header block made by
    /// our own (stored-block) deflater standing in for the client's.
    fn syn_stream(d: &mut Deflater, id: u32, h: &Headers) -> Vec<u8> {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        p.extend(d.deflate(&headers::encode(h)));
        control(SYN_STREAM, 0, &p)
    }

    #[test]
    fn frames_split_anywhere_reassemble() {
        let mut d = Deflater::default();
        let h: Headers = vec![("port".into(), "80".into()), ("streamtype".into(), "data".into())];
        let mut wire = syn_stream(&mut d, 1, &h);
        let mut w = Writer::default();
        // What the server writes is what it reads (data and ping alike).
        wire.extend(
            w.encode(&Outgoing::Data {
                id: 1,
                fin: true,
                data: b"GET /".to_vec(),
            })
            .unwrap(),
        );
        wire.extend(w.encode(&Outgoing::Ping(7)).unwrap());
        wire.extend(w.encode(&Outgoing::RstStream { id: 1, status: 5 }).unwrap());
        let mut r = Reader::default();
        let mut got = Vec::new();
        for b in wire.chunks(3) {
            r.push(b);
            while let Some(f) = r.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                Incoming::SynStream {
                    id: 1,
                    fin: false,
                    headers: h
                },
                Incoming::Data {
                    id: 1,
                    fin: true,
                    data: b"GET /".to_vec()
                },
                Incoming::Ping(7),
                Incoming::RstStream { id: 1 },
            ]
        );
    }

    #[test]
    fn reply_carries_an_empty_header_block_in_the_header_stream() {
        let mut w = Writer::default();
        let first = w.encode(&Outgoing::SynReply(1)).unwrap();
        let second = w.encode(&Outgoing::SynReply(3)).unwrap();
        // Control bit, version 3, type 2; 4 id bytes + zlib header (6) + one
        // stored block of the 4-byte empty list (5 + 4) + the flush marker.
        assert_eq!(&first[..4], &[0x80, 0x03, 0x00, 0x02]);
        assert_eq!(first.len(), 8 + 4 + 6 + 9 + 5);
        assert_eq!(&first[first.len() - 5..], &[0, 0, 0, 0xff, 0xff]);
        assert_eq!(second.len(), 8 + 4 + 9 + 5, "the zlib header comes once");
        let mut i = Inflater::default();
        for f in [&first, &second] {
            assert_eq!(
                headers::decode(&i.inflate(&f[12..]).unwrap()).unwrap(),
                Headers::new()
            );
        }
    }

    #[test]
    fn wrong_version_and_oversized_frames_are_refused() {
        let mut r = Reader::default();
        r.push(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert!(format!("{:#}", r.next_frame().unwrap_err()).contains("SPDY version 2"));
        let mut r = Reader::default();
        r.push(&[0, 0, 0, 1, 0, 0x20, 0, 0]);
        assert!(format!("{:#}", r.next_frame().unwrap_err()).contains("over the"));
    }
}
