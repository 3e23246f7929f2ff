//! The merged capture: one pcapng interface per capture point (if_name
//! `node/netns/device`, if_description naming node, namespace and device),
//! every frame on its own interface in time order, with its direction and
//! a comment naming its hop and what changed there (the story's words).
//!
//! The same segment appears once per hop, so Wireshark's TCP sequence
//! analysis calls every copy after the first a retransmission. Nothing in
//! the file can turn that off; the section's comment and the README say to
//! open it with `-o tcp.analyze_sequence_numbers:FALSE`.

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Context, Result};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use super::story::changes;
use crate::decode::decode;
use crate::decode::summary::{frame_line, SeqBase};
use crate::model::Trace;

/// The Wireshark preference that stops the false retransmission flags.
pub const NO_SEQ_ANALYSIS: &str = "tcp.analyze_sequence_numbers:FALSE";

/// The comment of every frame: `packet #8 hop 4/8 node-1 / host / ens4
/// out: encapsulated in VXLAN: …`, or why the frame is not followed.
pub fn comments(trace: &Trace) -> Vec<String> {
    let mut out: Vec<Option<String>> = vec![None; trace.frames.len()];
    for p in &trace.packets {
        for (k, h) in p.hops.iter().enumerate() {
            let dir = if h.outgoing { "out" } else { "in" };
            out[h.frame] = Some(format!(
                "packet #{} hop {}/{} {} {dir}: {}",
                p.id,
                k + 1,
                p.hops.len(),
                trace.point(h).heading(),
                changes(trace, p, k).join("; ")
            ));
        }
    }
    out.into_iter()
        .zip(&trace.frames)
        .map(|(c, f)| {
            c.unwrap_or_else(|| {
                format!(
                    "not followed (other traffic at {}): {}",
                    trace.points[f.point].heading(),
                    frame_line(&decode(&f.data), SeqBase::default())
                )
            })
        })
        .collect()
}

/// pcap-file writes timestamps in nanoseconds: say so (if_tsresol = 9).
const NANOSECONDS: u8 = 9;

pub fn write(trace: &Trace, out: impl Write) -> Result<()> {
    let section = SectionHeaderBlock {
        options: vec![SectionHeaderOption::Comment(Cow::Owned(format!(
            "labyrinth trace {} → {}:{} in lab {}: every capture point is an interface and each packet appears once per hop, so open with `wireshark -o {NO_SEQ_ANALYSIS}` to keep TCP analysis from calling the copies retransmissions",
            trace.request.from, trace.request.to, trace.request.port, trace.lab
        )))],
        endianness: pcap_file::Endianness::native(),
        ..SectionHeaderBlock::default()
    };
    let mut w = PcapNgWriter::with_section_header(out, section).context("writing the pcapng header")?;
    for p in &trace.points {
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 262_144,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(p.name())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(p.description())),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        })
        .context("writing an interface block")?;
    }
    for (f, comment) in trace.frames.iter().zip(comments(trace)) {
        // epb_flags bits 0-1: 1 inbound, 2 outbound.
        let options = vec![
            EnhancedPacketOption::Flags(if f.outgoing { 2 } else { 1 }),
            EnhancedPacketOption::Comment(Cow::Owned(comment)),
        ];
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: f.point as u32,
            timestamp: f.ts,
            original_len: f.data.len() as u32,
            data: Cow::Borrowed(&f.data),
            options,
        })
        .context("writing a packet block")?;
    }
    w.into_inner().flush().context("flushing the pcapng file")?;
    Ok(())
}

pub fn write_file(trace: &Trace, path: &std::path::Path) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write(trace, std::io::BufWriter::new(f)).with_context(|| format!("writing {}", path.display()))
}
