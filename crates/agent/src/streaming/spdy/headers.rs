//! SPDY/3 header blocks: the name/value list and its compression. Each
//! direction of a connection is one zlib stream primed with the SPDY
//! dictionary, flushed at the end of every frame; the peer's is inflated
//! here, and ours is written as stored (uncompressed) deflate blocks, which
//! every inflater reads and which need no compressor: the few headers this
//! server sends are empty replies.

use anyhow::{bail, ensure, Context, Result};
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::dictionary::{adler32, DICTIONARY};

/// Deflate looks back at most this far.
const WINDOW: usize = 32 * 1024;
/// One frame's header block may not inflate to more (a bomb is refused).
const MAX_BLOCK: usize = 256 * 1024;

/// A header list: lower-case names; several values of one name are joined
/// by NUL on the wire.
pub type Headers = Vec<(String, String)>;

/// The first value of `name`.
pub fn get<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Encode a header list (before compression).
pub fn encode(h: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    for (n, v) in h {
        for s in [n, v] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// Decode an inflated header block.
pub fn decode(mut b: &[u8]) -> Result<Headers> {
    fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8]> {
        ensure!(b.len() >= n, "header block ends inside {what}");
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn u32_of(b: &mut &[u8], what: &str) -> Result<usize> {
        let x = take(b, 4, what)?;
        Ok(u32::from_be_bytes([x[0], x[1], x[2], x[3]]) as usize)
    }
    let count = u32_of(&mut b, "the header count")?;
    let mut out = Vec::new();
    for i in 0..count {
        let n = u32_of(&mut b, "a name length")?;
        let name = String::from_utf8(take(&mut b, n, "a name")?.to_vec())
            .with_context(|| format!("header {i}: name is not UTF-8"))?;
        let n = u32_of(&mut b, "a value length")?;
        let value = String::from_utf8(take(&mut b, n, "a value")?.to_vec())
            .with_context(|| format!("header {name:?}: value is not UTF-8"))?;
        for v in value.split('\0') {
            out.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    ensure!(b.is_empty(), "{} bytes after the last header", b.len());
    Ok(out)
}

/// The peer's header stream, inflated frame by frame.
pub struct Inflater {
    started: bool,
    /// The dictionary, then what was inflated: what back-references reach.
    window: Vec<u8>,
    state: Box<DecompressorOxide>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            started: false,
            window: DICTIONARY.clone(),
            state: Box::default(),
        }
    }
}

impl Inflater {
    /// Inflate one frame's compressed header block.
    pub fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>> {
        if !self.started {
            // zlib header: CMF, FLG, then the dictionary's id when FDICT.
            ensure!(input.len() >= 2, "header block shorter than its zlib header");
            let (cmf, flg) = (input[0], input[1]);
            ensure!(
                cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0,
                "header block does not start with a zlib header ({cmf:#04x} {flg:#04x})"
            );
            input = &input[2..];
            if flg & 0x20 != 0 {
                ensure!(input.len() >= 4, "zlib header ends inside the dictionary id");
                let id = u32::from_be_bytes([input[0], input[1], input[2], input[3]]);
                ensure!(
                    id == adler32(&DICTIONARY),
                    "header block primed with dictionary {id:#010x}, not SPDY/3's"
                );
                input = &input[4..];
            }
            self.started = true;
        }
        let start = self.window.len();
        let mut pos = start;
        loop {
            if self.window.len() < pos + 4096 {
                self.window.resize(pos + 4096, 0);
            }
            let (status, used, wrote) = decompress(
                &mut self.state,
                input,
                &mut self.window,
                pos,
                TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF | TINFL_FLAG_HAS_MORE_INPUT,
            );
            input = &input[used..];
            pos += wrote;
            if pos - start > MAX_BLOCK {
                bail!("header block inflates to more than {MAX_BLOCK} bytes");
            }
            match status {
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::NeedsMoreInput if input.is_empty() => break,
                TINFLStatus::NeedsMoreInput => continue,
                TINFLStatus::Done => bail!("the peer ended its header stream"),
                other => bail!("header block does not inflate: {other:?}"),
            }
        }
        self.window.truncate(pos);
        let block = self.window[start..].to_vec();
        // Keep only what a later back-reference can reach.
        if self.window.len() > 3 * WINDOW {
            self.window.drain(..self.window.len() - WINDOW);
        }
        Ok(block)
    }
}

/// A stored block, not final: header bits 000 (then byte-aligned), LEN
/// and its complement, the bytes.
fn stored(out: &mut Vec<u8>, c: &[u8]) {
    out.push(0);
    let len = c.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(c);
}

/// Our header stream: stored blocks after a zlib header naming the
/// dictionary (a peer checks the id even though nothing refers to it).
#[derive(Default)]
pub struct Deflater {
    started: bool,
}

impl Deflater {
    pub fn deflate(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 16);
        if !self.started {
            // CMF 0x78: deflate, 32 KiB window; FLG 0x20: FDICT, and
            // 0x7820 is a multiple of 31 as the check requires.
            out.extend_from_slice(&[0x78, 0x20]);
            out.extend_from_slice(&adler32(&DICTIONARY).to_be_bytes());
            self.started = true;
        }
        for c in block.chunks(u16::MAX as usize) {
            stored(&mut out, c);
        }
        // The sync-flush marker, an empty stored block, as zlib ends a
        // flushed frame: Go's inflater hands out a block's bytes only when
        // the next block starts, so without it the frame's headers would
        // be read from beyond the frame (an error).
        stored(&mut out, &[]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blocks_round_trip_through_our_deflater_and_the_inflater() {
        let (mut d, mut i) = (Deflater::default(), Inflater::default());
        let a = headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        let b = headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]);
        for h in [&a, &b, &Headers::new()] {
            let wire = d.deflate(&encode(h));
            assert_eq!(&decode(&i.inflate(&wire).unwrap()).unwrap(), h);
        }
    }

    /// A real compressor's stream (miniz's, primed with the dictionary by
    /// compressing it first and dropping that output): back-references
    /// into the dictionary and across frames resolve.
    #[test]
    fn compressed_blocks_with_back_references_inflate() {
        use miniz_oxide::deflate::core::{
            compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
        };
        let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(9, 0, 0));
        let mut sink = vec![0u8; 1 << 16];
        compress(&mut c, &DICTIONARY, &mut sink, TDEFLFlush::Sync);
        let mut i = Inflater::default();
        // Our inflater wants the zlib header first: give it one.
        let mut first = vec![0x78, 0x20];
        first.extend_from_slice(&adler32(&DICTIONARY).to_be_bytes());
        let frames = [
            headers(&[("streamtype", "error"), ("port", "8080"), ("requestid", "1")]),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "1")]),
            headers(&[("accept-encoding", "gzip"), ("user-agent", "x")]),
        ];
        for (k, h) in frames.iter().enumerate() {
            let block = encode(h);
            let mut out = vec![0u8; 4096];
            let (_, used, n) = compress(&mut c, &block, &mut out, TDEFLFlush::Sync);
            assert_eq!(used, block.len());
            let mut wire = if k == 0 { first.clone() } else { Vec::new() };
            wire.extend_from_slice(&out[..n]);
            if k > 0 {
                assert!(
                    n < block.len(),
                    "frame {k} was compressed ({n} vs {})",
                    block.len()
                );
            }
            assert_eq!(&decode(&i.inflate(&wire).unwrap()).unwrap(), h);
        }
    }

    #[test]
    fn a_foreign_dictionary_or_a_broken_block_is_an_error() {
        let mut i = Inflater::default();
        let e = i.inflate(&[0x78, 0x20, 0, 0, 0, 1, 0]).unwrap_err();
        assert!(format!("{e:#}").contains("not SPDY/3's"), "{e:#}");
        let e = decode(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']).unwrap_err();
        assert!(format!("{e:#}").contains("ends inside a name"), "{e:#}");
    }
}
