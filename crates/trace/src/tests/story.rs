//! The journey as a story (issue 15): the text starts with a numbered
//! account in path order, each hop named once; every pcapng packet carries
//! a comment naming its hop and what changed there, read back by tshark.

use std::process::Command;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::fixtures::{self, Case, CASES, DNS_POD_NAME};
use crate::present;

/// The story part of the text: from its heading to the listings.
fn story_of(text: &str) -> &str {
    let start = text.find("The journey, hop by hop:").expect("a story heading");
    let end = text
        .find("Every capture point, in path order:")
        .expect("a listing heading");
    assert!(start < end, "the story comes after the listings:\n{text}");
    &text[start..end]
}

fn at(story: &str, what: &str) -> usize {
    story
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} not in the story:\n{story}"))
}

#[test]
fn text_starts_with_the_story_in_path_order_each_hop_once() {
    for case in CASES {
        let t = fixtures::trace(case);
        let text = present::text::render(&t);
        let story = story_of(&text);
        // Shown with --no-capture, to read it.
        println!("{text}");
        // Only the one-line header comes before it.
        assert_eq!(
            text[..text.find(story).unwrap()].trim().lines().count(),
            1,
            "{case:?}:\n{text}"
        );
        // Steps numbered 1, 2, 3… without gaps.
        let numbers: Vec<usize> = story
            .lines()
            .filter_map(|l| l.trim_start().split_once(". ")?.0.parse().ok())
            .collect();
        assert_eq!(
            numbers,
            (1..=numbers.len()).collect::<Vec<_>>(),
            "{case:?}:\n{story}"
        );
        // The DNS leg first: the search path, the walk, who answered.
        let dns = at(story, "  1. DNS: ");
        at(
            story,
            "search wrk-1.svc.cluster.local svc.cluster.local cluster.local",
        );
        at(
            story,
            "node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local → NXDOMAIN",
        );
        at(
            story,
            "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local → A 10.96.0.20",
        );
        let answered = at(story, &format!("pod {DNS_POD_NAME} on "));
        // Then every hop of the SYN, in path order, each named once.
        let main = present::main_packet(&t).unwrap();
        let mut last = answered;
        for (k, h) in main.hops.iter().enumerate() {
            let heading = t.point(h).heading();
            let named = format!("hop {}/{} {heading} (", k + 1, main.hops.len());
            assert_eq!(
                story.matches(&named).count(),
                1,
                "{case:?}: {named:?} in\n{story}"
            );
            assert_eq!(
                story.matches(&format!(" {heading} (")).count(),
                1,
                "{case:?}: {heading} named twice"
            );
            let here = at(story, &named);
            assert!(
                here > last,
                "{case:?}: hop {k} ({heading}) out of path order:\n{story}"
            );
            last = here;
        }
        // What happened, in the order it happened.
        let dnat = at(
            story,
            "destination rewritten 10.96.0.20:9999 → 10.0.2.9:9999 (DNAT)",
        );
        let rule = at(story, "rewrote 10.96.0.20:9999 to 10.0.2.9:9999");
        let delivered = at(story, "held by pid 52 (nc -l 0.0.0.0 9999)");
        assert!(
            dns < dnat && dnat < rule && rule < delivered,
            "{case:?}:\n{story}"
        );
        match case {
            Case::Native => {
                let crossed = at(story, "across the underlay from node-1, routed without a tunnel");
                assert!(dnat < crossed && crossed < delivered);
                assert!(!story.contains("VXLAN"), "{story}");
            }
            _ => {
                let encap = at(
                    story,
                    "encapsulated in VXLAN: outer 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1",
                );
                let decap = at(story, "decapsulated: VXLAN VNI 1 from 10.168.0.3 taken off");
                assert!(
                    dnat < encap && encap < decap && decap < delivered,
                    "{case:?}:\n{story}"
                );
            }
        }
        // The answer last, with its reverse translation.
        let answer = at(story, "the answer #");
        assert!(answer > delivered);
        at(
            story,
            "on node-1: source rewritten 10.0.2.9:9999 → 10.96.0.20:9999",
        );
        // Node-0 carries none of the flow: it is not a step.
        assert!(
            !story.contains("hop 1/") || !story.contains(" node-0 / host"),
            "{story}"
        );
        // The listings follow, every point with packets, each once.
        let listing = &text[text.find("Every capture point").unwrap()..];
        for &pt in &present::points_in_path_order(&t) {
            let h = format!("\n{}\n", t.points[pt].heading());
            assert_eq!(listing.matches(&h).count(), 1, "{case:?}: {h:?}");
        }
    }
}

#[test]
fn every_pcapng_packet_names_its_hop_and_what_changed() {
    let t = fixtures::trace(Case::Tunnel);
    let mut buf = Vec::new();
    present::pcapng::write(&t, &mut buf).unwrap();
    let mut r = PcapNgReader::new(&buf[..]).unwrap();
    let mut comments = Vec::new();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(p) = b.unwrap() {
            let c: Vec<String> = p
                .options
                .iter()
                .filter_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(c.len(), 1, "one comment per packet");
            comments.push(c[0].clone());
        }
    }
    assert_eq!(comments.len(), t.frames.len());
    let main = present::main_packet(&t).unwrap();
    let syn = |k: usize| comments[main.hops[k].frame].as_str();
    assert!(
        syn(0).starts_with(&format!(
            "packet #{} hop 1/8 node-1 / {} / eth0 out: sent by pod",
            main.id,
            fixtures::CLIENT_POD
        )),
        "{}",
        syn(0)
    );
    assert!(syn(2).contains("hop 3/8 node-1 / host / lby_vxlan out: destination rewritten 10.96.0.20:9999 → 10.0.2.9:9999 (DNAT)"), "{}", syn(2));
    assert_eq!(
        syn(3),
        format!("packet #{} hop 4/8 node-1 / host / ens4 out: encapsulated in VXLAN: outer 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1", main.id)
    );
    assert!(syn(4).contains("hop 5/8 node-2 / host / ens4 in: across the underlay from node-1: 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1"), "{}", syn(4));
    assert!(
        syn(5).ends_with("lby_vxlan in: decapsulated: VXLAN VNI 1 from 10.168.0.3 taken off"),
        "{}",
        syn(5)
    );
    assert!(
        syn(7).ends_with(&format!("eth0 in: arrived in pod {}", fixtures::SERVER_POD)),
        "{}",
        syn(7)
    );
}

fn tshark(test: &str, args: &[&str]) -> Option<String> {
    labyrinth_testkit::root::tool(test, "tshark")?;
    let out = Command::new("tshark").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// tshark (independent of our writer) reads a comment on every packet, and
/// the README's preference leaves no false retransmission flag, which the
/// default analysis does raise on the hop copies.
#[test]
fn tshark_reads_a_comment_on_every_packet_and_no_retransmission_with_the_readme_preference() {
    const TEST: &str =
        "tshark_reads_a_comment_on_every_packet_and_no_retransmission_with_the_readme_preference";
    let dir = std::env::temp_dir().join(format!("labyrinth-story-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in CASES {
        let t = fixtures::trace(case);
        let f = dir.join(format!("{case:?}.pcapng"));
        present::pcapng::write_file(&t, &f).unwrap();
        let f = f.to_str().unwrap();
        let Some(comments) = tshark(TEST, &["-r", f, "-T", "fields", "-e", "frame.comment"]) else {
            return;
        };
        let lines: Vec<&str> = comments.lines().collect();
        assert_eq!(lines.len(), t.frames.len(), "{case:?}: {comments}");
        assert!(
            lines.iter().all(|l| l.starts_with("packet #")),
            "{case:?}: {comments}"
        );
        let flagged = tshark(TEST, &["-r", f, "-Y", "tcp.analysis.retransmission"]).unwrap();
        assert!(
            !flagged.trim().is_empty(),
            "{case:?}: expected the default analysis to flag the hop copies"
        );
        let pref = present::pcapng::NO_SEQ_ANALYSIS;
        let flagged = tshark(TEST, &["-r", f, "-o", pref, "-Y", "tcp.analysis.retransmission"]).unwrap();
        assert_eq!(flagged.trim(), "", "{case:?}: with -o {pref}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
