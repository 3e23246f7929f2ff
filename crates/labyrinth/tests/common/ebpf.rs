//! What `bpftool` shows of the eBPF datapath inside a node: tcx links
//! (`bpftool link`, the default where the kernel has tcx) or clsact filters
//! (`bpftool net show`, older kernels or `--bpf-attach clsact`).

use std::collections::BTreeMap;

use super::{ok, Lab};

/// `bpftool` `args` inside `node`, its output; a listing that a link being
/// attached elsewhere on the machine cut short is run again
/// (`labyrinth_testkit::bpftool`), any other failure panics as `ssh_ok` does.
pub fn bpftool_ok(lab: &Lab, node: &str, args: &[&str]) -> String {
    let cmd: Vec<&str> = std::iter::once("bpftool").chain(args.iter().copied()).collect();
    let mut last = None;
    labyrinth_testkit::bpftool::listing(|| {
        let out = lab.ssh(node, &cmd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let good = out.status.success();
        last = Some(out);
        (good, text)
    });
    ok(&last.expect("bpftool ran"))
}

/// One of our programs on a device: (device, `ingress`/`egress`, program).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attached {
    pub dev: String,
    pub hook: String,
    pub prog: String,
    /// A tcx link (else a clsact filter).
    pub tcx: bool,
}

/// Every program attached on `node`'s devices, as bpftool lists them.
/// tcx links: `bpftool -f -j link show`, type tcx (bpftool 7.1, Debian 12's,
/// prints it as type 11 and without its device, so the device comes from
/// the link's pin in the node's bpffs, `<dev>@<ifindex>@<hook>`, checked
/// against the device's ifindex now: links of other nodes, which the
/// kernel lists too, are pinned elsewhere). clsact filters: `bpftool net
/// show`, which names device, hook and program.
pub fn attached(lab: &Lab, node: &str) -> Vec<Attached> {
    let json = |text: String| -> serde_json::Value {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let progs: BTreeMap<u64, String> = json(bpftool_ok(lab, node, &["-j", "prog", "show"]))
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["id"].as_u64()?, p["name"].as_str()?.to_string())))
        .collect();
    let ifindex: BTreeMap<String, u64> = json(lab.ssh_ok(node, &["ip", "-j", "link", "show"]))
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| Some((l["ifname"].as_str()?.to_string(), l["ifindex"].as_u64()?)))
        .collect();
    let mut out = Vec::new();
    // -f: with the pins (bpftool 7.1 reads the bpffs for them only then).
    for link in json(bpftool_ok(lab, node, &["-f", "-j", "link", "show"]))
        .as_array()
        .unwrap()
    {
        if link["type"] != 11 && link["type"] != "tcx" {
            continue;
        }
        let prog = link["prog_id"]
            .as_u64()
            .and_then(|id| progs.get(&id).cloned())
            .unwrap_or_default();
        for pin in link["pinned"].as_array().into_iter().flatten() {
            let Some(name) = pin
                .as_str()
                .and_then(|p| p.strip_prefix("/sys/fs/bpf/labyrinth/links/"))
            else {
                continue;
            };
            let mut parts = name.rsplitn(3, '@');
            let (Some(hook), Some(idx), Some(dev)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if ifindex.get(dev).map(u64::to_string).as_deref() == Some(idx) {
                out.push(Attached {
                    dev: dev.into(),
                    hook: hook.into(),
                    prog: prog.clone(),
                    tcx: true,
                });
            }
        }
    }
    // `lxc0123(12) clsact/ingress lby_from_contai id 40`
    for l in bpftool_ok(lab, node, &["net", "show"]).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let [dev, kind, prog, ..] = w[..] {
            let Some(hook) = kind.strip_prefix("clsact/") else {
                continue;
            };
            out.push(Attached {
                dev: dev.split('(').next().unwrap_or(dev).into(),
                hook: hook.into(),
                // bpftool cuts names to the kernel's 15 characters.
                prog: prog.into(),
                tcx: false,
            });
        }
    }
    out.sort();
    out
}

/// Whether `prog` is on `dev`'s `hook` (a clsact listing's name is cut
/// to 15 characters, so a prefix matches).
pub fn bpf_on(all: &[Attached], dev: &str, prog: &str, hook: &str) -> bool {
    all.iter()
        .any(|a| a.dev == dev && a.hook == hook && prog.starts_with(a.prog.as_str()) && !a.prog.is_empty())
}

/// Every pod's host veth on `node` (`lxc…`, as `ip link` lists them).
pub fn pod_veths(lab: &Lab, node: &str) -> Vec<String> {
    let links = lab.ssh_ok(node, &["ip", "-o", "link", "show", "type", "veth"]);
    let veths: Vec<String> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("lxc"))
        .collect();
    assert!(!veths.is_empty(), "no pod veths on {node}: {links}");
    veths
}

/// Every pod's host veth on `node` has our programs on its ingress (from
/// the pod) and egress (into it); returns the veths.
pub fn ebpf_on_every_pod_veth(lab: &Lab, node: &str) -> Vec<String> {
    let veths = pod_veths(lab, node);
    let all = attached(lab, node);
    for v in &veths {
        assert!(
            bpf_on(&all, v, "lby_from_container", "ingress"),
            "{node}: no program on pod veth {v}: {all:#?}"
        );
        assert!(
            bpf_on(&all, v, "lby_to_container", "egress"),
            "{node}: no program on pod veth {v}'s egress: {all:#?}"
        );
    }
    eprintln!(
        "{node}: lby_from_container and lby_to_container on all {} pod veths {veths:?}",
        veths.len()
    );
    veths
}
