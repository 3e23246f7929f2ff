use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::model::Note;
use crate::present;
use crate::testutil::*;

#[test]
fn pcapng_names_every_point_and_reads_back() {
    let t = journey_trace();
    let mut buf = Vec::new();
    present::pcapng::write(&t, &mut buf).unwrap();
    let mut r = PcapNgReader::new(&buf[..]).unwrap();
    let (mut names, mut descs, mut packets) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(idb) => {
                for o in idb.options {
                    match o {
                        InterfaceDescriptionOption::IfName(n) => names.push(n.to_string()),
                        InterfaceDescriptionOption::IfDescription(d) => descs.push(d.to_string()),
                        _ => {}
                    }
                }
            }
            Block::EnhancedPacket(p) => packets.push((p.interface_id, p.timestamp, p.data.len())),
            _ => {}
        }
    }
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "node-1/cni-eth0-node-1/eth0");
    assert_eq!(names[3], "node-1/host/ens4");
    assert!(
        descs[3].contains("node node-1") && descs[3].contains("device ens4"),
        "{}",
        descs[3]
    );
    assert_eq!(packets.len(), t.frames.len());
    for (p, f) in packets.iter().zip(&t.frames) {
        assert_eq!(*p, (f.point as u32, f.ts, f.data.len()));
    }
}

#[test]
fn text_listing_groups_by_point_in_path_order() {
    let mut t = journey_trace();
    t.notes
        .push(Note::new("delivery", "delivered to pod wrk-2/server").at(0, 7, 7));
    let text = present::text::render(&t);
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("node-")).collect();
    assert_eq!(
        headings,
        vec![
            "node-1 / wrk-1/client / eth0",
            "node-1 / host / lxc1",
            "node-1 / host / lby_vxlan",
            "node-1 / host / ens4",
            "node-2 / host / ens4",
            "node-2 / host / lby_vxlan",
            "node-2 / host / lxc2",
            "node-2 / wrk-2/server / eth0",
        ]
    );
    assert!(text.contains("[delivery] #0 delivered to pod wrk-2/server"));
    assert!(
        text.contains("path of #2: node-1:eth0 → node-1:lxc1 → node-1:lby_vxlan → node-1:ens4 → node-2:ens4"),
        "{text}"
    );
}

#[test]
fn html_is_self_contained_and_draws_every_hop() {
    let t = journey_trace();
    let html = present::html::render(&t);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src=\""));
    let main = present::main_packet(&t).unwrap();
    for (k, h) in main.hops.iter().enumerate() {
        let needle = format!(
            r#"class="hop main" data-packet="{}" data-hop="{k}" data-point="{}""#,
            main.id, h.point
        );
        assert!(html.contains(&needle), "hop {k} not drawn");
    }
    assert_eq!(html.matches(r#"data-box="hop""#).count(), main.hops.len());
    // What changed is written on the picture, not only in a tooltip.
    assert!(html.contains(">out: encapsulated in VXLAN: outer 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1</text>"));
    assert!(html.contains(">out: destination rewritten 10.96.0.20:9999 → 10.0.2.9:9999 (DNAT)</text>"));
    assert!(html.contains("10.0.1.7:44312 → 10.96.0.20:9999"));
    assert_eq!(html.matches(r#"class="node""#).count(), 2);
    let json: serde_json::Value = serde_json::from_str(&present::json::render(&t).unwrap()).unwrap();
    assert_eq!(json["packets"].as_array().unwrap().len(), t.packets.len());
}
