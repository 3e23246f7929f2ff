//! The merged capture: one pcapng interface per capture point (if_name
//! `node/netns/device`, if_description naming node, namespace and device),
//! every frame on its own interface in time order, with its direction and
//! the packet number of the listing as a comment.

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Context, Result};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::model::Trace;

/// pcap-file writes timestamps in nanoseconds: say so (if_tsresol = 9).
const NANOSECONDS: u8 = 9;

pub fn write(trace: &Trace, out: impl Write) -> Result<()> {
    let mut w = PcapNgWriter::new(out).context("writing the pcapng header")?;
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
    // Which packet (of the listing) each frame belongs to.
    let mut packet_of = vec![None; trace.frames.len()];
    for p in &trace.packets {
        for h in &p.hops {
            packet_of[h.frame] = Some((p.id, h.summary.as_str()));
        }
    }
    for (i, f) in trace.frames.iter().enumerate() {
        // epb_flags bits 0-1: 1 inbound, 2 outbound.
        let mut options = vec![EnhancedPacketOption::Flags(if f.outgoing { 2 } else { 1 })];
        if let Some((id, summary)) = packet_of[i] {
            options.push(EnhancedPacketOption::Comment(Cow::Owned(format!(
                "packet #{id}: {summary}"
            ))));
        }
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
