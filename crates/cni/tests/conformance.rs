//! CNI conformance harness (spec 1.1 calling convention: env + stdin, exec
//! of the binary in the node's namespace), run against our plugin and the
//! reference ptp + host-local. Results are checked with `ip -j` and the
//! IPAM directory, never with the plugin's own word alone.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn ge(v: &str, min: &str) -> bool {
    let p = |s: &str| {
        s.split('.')
            .map(|x| x.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    p(v) >= p(min)
}

/// The host-side and pod-side interface entries of an ADD result.
fn sides<'a>(res: &'a Value, netns: &str, ifname: &str) -> (&'a Value, usize) {
    let ifaces = res["interfaces"].as_array().expect("interfaces");
    let idx = ifaces
        .iter()
        .position(|i| i["name"] == ifname && i["sandbox"] == netns)
        .unwrap_or_else(|| panic!("no {ifname} in sandbox {netns} in {res}"));
    let host = ifaces
        .iter()
        .find(|i| i.get("sandbox").is_none_or(|s| s == ""))
        .expect("host-side interface");
    (host, idx)
}

fn pod_ip(res: &Value) -> (String, u64) {
    let addr = res["ips"][0]["address"].as_str().unwrap();
    let (ip, len) = addr.split_once('/').unwrap();
    (ip.to_string(), len.parse().unwrap())
}

/// Independent look at what ADD claims to have built.
fn verify_attachment(node: &Holder, pod: &Holder, net: &Net, container: &str, res: &Value) {
    let (host, pod_idx) = sides(res, &pod.netns(), "eth0");
    let (ip, plen) = pod_ip(res);
    assert_eq!(
        res["ips"][0]["interface"], pod_idx,
        "ips[0] points at the pod interface"
    );
    let gw = res["ips"][0]["gateway"].as_str().expect("gateway").to_string();

    let addrs = pod.ip_j(&["addr", "show", "dev", "eth0"]);
    let link = &addrs[0];
    assert_eq!(link["mtu"], MTU, "pod eth0 MTU");
    assert!(
        link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "pod eth0 up"
    );
    let has_ip = link["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["local"] == ip && a["prefixlen"] == plen);
    assert!(has_ip, "pod eth0 has {ip}/{plen}: {addrs}");
    if let Some(mac) = res["interfaces"][pod_idx]["mac"].as_str() {
        assert_eq!(link["address"], mac);
    }

    let routes = pod.ip_j(&["route", "show"]);
    let default = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "default")
        .expect("default route in pod");
    assert_eq!(default["gateway"], gw, "default route via the gateway: {routes}");
    assert_eq!(default["dev"], "eth0");
    let gw_link = routes
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["dst"] == gw && r["scope"] == "link");
    assert!(gw_link, "link-scope route to the gateway in the pod: {routes}");

    let host_name = host["name"].as_str().unwrap();
    let hl = node.ip_j(&["-d", "link", "show", "dev", host_name]);
    assert_eq!(hl[0]["linkinfo"]["info_kind"], "veth", "host side is a veth");
    assert_eq!(hl[0]["mtu"], MTU, "host side MTU");
    assert!(
        hl[0].get("link_netnsid").is_some(),
        "host side's peer is in another netns"
    );
    let node_routes = node.ip_j(&["route", "show"]);
    let host_route = node_routes
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["dst"] == ip && r["dev"] == host_name);
    assert!(host_route, "node routes {ip} via {host_name}: {node_routes}");

    assert_eq!(
        net.reserved_for(container),
        vec![ip.clone()],
        "IPAM file for {container}"
    );
    let content = std::fs::read_to_string(net.ipam_dir().join(&ip)).unwrap();
    assert_eq!(content, format!("{container}\r\neth0"), "host-local file layout");
}

/// Right after DEL: the attachment's names are free and its address
/// released (a retired pair may still be on its way out, down).
fn verify_gone(node: &Holder, pod: &Holder, net: &Net, container: &str, host_name: &str, ip: &str) {
    assert!(
        !pod.link_names_now().contains(&"eth0".to_string()),
        "pod eth0 removed"
    );
    assert!(
        !node.link_names_now().contains(&host_name.to_string()),
        "host side {host_name} removed"
    );
    for ns in [node, pod] {
        for l in ns.ip_j(&["link", "show"]).as_array().unwrap() {
            let name = l["ifname"].as_str().unwrap();
            if name.starts_with("lxd") {
                let flags = l["flags"].to_string();
                assert!(!flags.contains("\"UP\""), "retired {name} is down: {flags}");
            }
        }
    }
    assert!(
        !node.sh(&["ip", "route"]).contains(&format!("{ip} ")),
        "no route to the released address {ip}"
    );
    assert!(
        net.reserved_for(container).is_empty(),
        "IP of {container} released"
    );
}

pub fn version(p: &PluginUnderTest) {
    let node = Holder::node();
    let declared = p.declared_versions(&node);
    assert!(
        declared.contains(&"1.0.0".to_string()),
        "{} declares 1.0.0",
        p.name
    );
    for v in &declared {
        let out = p.call(&node, &Call::version(), &json!({"cniVersion": v}).to_string());
        let res = out.ok("VERSION");
        let supported: Vec<&str> = res["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(supported.contains(&v.as_str()));
        assert!(
            supported.contains(&res["cniVersion"].as_str().unwrap()),
            "VERSION's cniVersion is a supported one"
        );
        if p.strict() {
            // Spec 1.x: the version result carries the cniVersion of the input.
            assert_eq!(res["cniVersion"], *v);
        }
    }
    if p.strict() {
        assert_eq!(
            declared, TESTED_VERSIONS,
            "labyrinth-cni declares every tested version"
        );
    }
}

pub fn lifecycle(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("life", "10.61.0.0/24");
    p.prepare_node(&node, &net);
    let declared = p.declared_versions(&node);
    let knows_11 = declared.iter().any(|v| v == "1.1.0");
    for v in &declared {
        let pod = Holder::pod();
        let id = unique("life");
        let conf = p.config(v, &net);
        let add = p.call(
            &node,
            &Call::new("ADD", &id, Some(&pod.netns()), "eth0"),
            &conf.to_string(),
        );
        let res = add.ok(&format!("ADD {v}")).clone();
        assert_eq!(res["cniVersion"], *v, "result cniVersion equals the config's");
        assert_eq!(
            res["ips"][0].get("version").is_some(),
            !ge(v, "1.0.0"),
            "ips[].version only before 1.0.0 ({v})"
        );
        verify_attachment(&node, &pod, &net, &id, &res);
        let host_name = sides(&res, &pod.netns(), "eth0").0["name"]
            .as_str()
            .unwrap()
            .to_string();

        let with = with_prev(&conf, &res).to_string();
        let check = p.call(&node, &Call::new("CHECK", &id, Some(&pod.netns()), "eth0"), &with);
        if ge(v, "0.4.0") {
            check.ok(&format!("CHECK {v}"));
            assert!(check.stdout.trim().is_empty(), "CHECK prints nothing on success");
        } else {
            assert_eq!(
                check.err_code("CHECK before 0.4.0"),
                1,
                "CHECK is gated to 0.4.0+"
            );
        }

        let status = p.call(&node, &Call::bare("STATUS"), &conf.to_string());
        if ge(v, "1.1.0") {
            status.ok("STATUS 1.1.0");
        } else {
            let code = status.err_code(&format!("STATUS {v}"));
            // A 1.1 plugin gates STATUS by version (1); an older one does
            // not know the command (ptp 1.1.1 answers 3: its skel wants a
            // container id for every command but VERSION).
            assert!(code == 1 || !knows_11, "STATUS {v} → {code}");
        }

        let del_conf = if ge(v, "0.4.0") { with } else { conf.to_string() };
        let del = p.call(
            &node,
            &Call::new("DEL", &id, Some(&pod.netns()), "eth0"),
            &del_conf,
        );
        del.ok(&format!("DEL {v}"));
        assert!(del.stdout.trim().is_empty(), "DEL prints nothing");
        verify_gone(&node, &pod, &net, &id, &host_name, &pod_ip(&res).0);
        p.call(
            &node,
            &Call::new("DEL", &id, Some(&pod.netns()), "eth0"),
            &del_conf,
        )
        .ok("second DEL");
        p.call(&node, &Call::new("DEL", &id, None, "eth0"), &del_conf)
            .ok("DEL without CNI_NETNS");
    }
    assert_eq!(node.link_names(), vec!["lo"], "nothing left on the node");
}

/// DEL then at once ADD again, same container, same namespace, same
/// ifname (a runtime retrying a sandbox): the names DEL freed are free at
/// once, however the plugin removes the old pair.
pub fn readd_after_del(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("readd", "10.75.0.0/24");
    p.prepare_node(&node, &net);
    let conf = p.config("1.0.0", &net);
    let pod = Holder::pod();
    let id = unique("readd");
    for round in 0..4 {
        let res = p
            .call(
                &node,
                &Call::new("ADD", &id, Some(&pod.netns()), "eth0"),
                &conf.to_string(),
            )
            .ok(&format!("ADD round {round}"))
            .clone();
        verify_attachment(&node, &pod, &net, &id, &res);
        let host_name = sides(&res, &pod.netns(), "eth0").0["name"]
            .as_str()
            .unwrap()
            .to_string();
        p.call(
            &node,
            &Call::new("DEL", &id, Some(&pod.netns()), "eth0"),
            &with_prev(&conf, &res).to_string(),
        )
        .ok(&format!("DEL round {round}"));
        verify_gone(&node, &pod, &net, &id, &host_name, &pod_ip(&res).0);
    }
    assert_eq!(node.link_names(), vec!["lo"], "nothing left on the node");
    assert_eq!(pod.link_names(), vec!["lo"], "nothing left in the pod");
}

pub fn del_unknown_and_vanished(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("unk", "10.62.0.0/24");
    p.prepare_node(&node, &net);
    let conf = p.config("1.0.0", &net).to_string();
    let pod = Holder::pod();
    p.call(
        &node,
        &Call::new("DEL", "never-added", Some(&pod.netns()), "eth0"),
        &conf,
    )
    .ok("DEL of unknown container");
    p.call(&node, &Call::new("DEL", "never-added", None, "eth0"), &conf)
        .ok("DEL of unknown container, no netns");

    // The pod's namespace disappears before DEL (a crashed sandbox): DEL
    // still releases the address and leaves nothing behind.
    let mut gone = Holder::pod();
    let netns = gone.netns();
    let res = p
        .call(&node, &Call::new("ADD", "vanishing", Some(&netns), "eth0"), &conf)
        .ok("ADD")
        .clone();
    assert_eq!(net.reserved_for("vanishing").len(), 1);
    gone.kill();
    let with = with_prev(&p.config("1.0.0", &net), &res).to_string();
    p.call(&node, &Call::new("DEL", "vanishing", Some(&netns), "eth0"), &with)
        .ok("DEL after the netns vanished");
    assert!(
        net.reserved_for("vanishing").is_empty(),
        "IP released although the netns is gone"
    );
    // The kernel frees a dead namespace (and with it the veth's host side)
    // asynchronously; wait for it, bounded.
    for _ in 0..200 {
        if node.link_names() == vec!["lo"] {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(node.link_names(), vec!["lo"], "host side went with the namespace");
}

pub fn bad_environment(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("env", "10.63.0.0/24");
    let pod = Holder::pod();
    let conf = p.config("1.0.0", &net).to_string();
    let good = Call::new("ADD", "envtest", Some(&pod.netns()), "eth0");
    // (case, call, variable the error must name, reference deviates)
    let cases: Vec<(&str, Call, &str, bool)> = vec![
        (
            "missing CNI_NETNS",
            good.clone().set("CNI_NETNS", None),
            "CNI_NETNS",
            false,
        ),
        (
            "missing CNI_CONTAINERID",
            good.clone().set("CNI_CONTAINERID", None),
            "CNI_CONTAINERID",
            false,
        ),
        (
            "missing CNI_IFNAME",
            good.clone().set("CNI_IFNAME", None),
            "CNI_IFNAME",
            false,
        ),
        (
            "bad CNI_CONTAINERID",
            good.clone().set("CNI_CONTAINERID", Some("-bad id")),
            "CNI_CONTAINERID",
            false,
        ),
        (
            "too long CNI_IFNAME",
            good.clone().set("CNI_IFNAME", Some("averyveryverylongname")),
            "CNI_IFNAME",
            false,
        ),
        (
            "unknown CNI_COMMAND",
            good.clone().set("CNI_COMMAND", Some("FROB")),
            "CNI_COMMAND",
            false,
        ),
        // host-local reports a bad CNI_ARGS as a generic error (999).
        (
            "bad CNI_ARGS",
            good.clone().set("CNI_ARGS", Some("garbage")),
            "CNI_ARGS",
            true,
        ),
        // ptp prints its "about" text and exits 0 without CNI_COMMAND.
        (
            "missing CNI_COMMAND",
            good.clone().set("CNI_COMMAND", None),
            "CNI_COMMAND",
            true,
        ),
    ];
    for (what, call, var, ref_deviates) in cases {
        let out = p.call(&node, &call, &conf);
        if p.strict() || !ref_deviates {
            assert_eq!(out.err_code(what), 4, "{what}: {}", out.stdout);
        }
        if p.strict() {
            assert!(
                out.json["msg"].as_str().unwrap().contains(var),
                "{what}: msg names {var}: {}",
                out.stdout
            );
            assert_eq!(
                out.json["cniVersion"], "1.0.0",
                "error echoes the config's cniVersion"
            );
        }
    }
    assert!(
        net.reservations().is_empty(),
        "no address reserved by failed calls"
    );
    assert_eq!(node.link_names(), vec!["lo"]);
    assert_eq!(pod.link_names(), vec!["lo"]);
}

pub fn bad_config(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("cfg", "10.64.0.0/24");
    let pod = Holder::pod();
    let add = Call::new("ADD", "cfgtest", Some(&pod.netns()), "eth0");
    let conf = p.config("1.0.0", &net);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = conf.clone();
        f(&mut c);
        c.to_string()
    };
    // (case, call, stdin, code, reference deviates)
    let cases: Vec<(&str, Call, String, u64, bool)> = vec![
        ("not JSON", add.clone(), "{not json".into(), 6, false),
        (
            "missing name",
            add.clone(),
            edit(&|c| drop(c.as_object_mut().unwrap().remove("name"))),
            7,
            false,
        ),
        (
            "unsupported cniVersion",
            add.clone(),
            edit(&|c| c["cniVersion"] = json!("9.9.9")),
            1,
            false,
        ),
        (
            "CHECK without prevResult",
            Call::new("CHECK", "cfgtest", Some(&pod.netns()), "eth0"),
            conf.to_string(),
            7,
            true, // ptp: 999 "Required prevResult missing"
        ),
        (
            "bad subnet",
            add.clone(),
            edit(&|c| {
                if c.get("podCIDR").is_some() {
                    c["podCIDR"] = json!("10.64.0.0/33")
                } else {
                    c["ipam"]["subnet"] = json!("10.64.0.0/33")
                }
            }),
            7,
            true, // host-local: 999
        ),
        (
            "bad mtu",
            add.clone(),
            edit(&|c| c["mtu"] = json!(70000)),
            7,
            true,
        ),
    ];
    for (what, call, stdin, code, ref_deviates) in cases {
        let out = p.call(&node, &call, &stdin);
        let got = out.err_code(what);
        if p.strict() || !ref_deviates {
            assert_eq!(got, code, "{what}: {}", out.stdout);
        }
    }
    if p.strict() {
        let out = p.call(&node, &add, &edit(&|c| c["ipam"]["type"] = json!("dhcp")));
        assert_eq!(out.err_code("unsupported ipam.type"), 2);
        assert!(
            out.text().contains("ipam.type") && out.text().contains("dhcp"),
            "names key and value: {}",
            out.stdout
        );
    }
    assert!(
        net.reservations().is_empty(),
        "no address reserved by rejected configs"
    );
    assert_eq!(node.link_names(), vec!["lo"]);
    assert_eq!(pod.link_names(), vec!["lo"]);
}

pub fn concurrent_adds(p: &PluginUnderTest) {
    const N: usize = 50;
    let node = Holder::node();
    let net = Net::new("conc", "10.65.0.0/24");
    p.prepare_node(&node, &net);
    let pods: Vec<Holder> = (0..N).map(|_| Holder::pod()).collect();
    let conf = p.config("1.0.0", &net).to_string();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, pod)| {
                let (node, conf) = (&node, &conf);
                s.spawn(move || {
                    p.call(
                        node,
                        &Call::new("ADD", &format!("conc{i}"), Some(&pod.netns()), "eth0"),
                        conf,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().ok("concurrent ADD").clone())
            .collect()
    });
    let ips: HashSet<String> = results.iter().map(|r| pod_ip(r).0).collect();
    assert_eq!(ips.len(), N, "{N} ADDs got {N} distinct addresses");
    assert_eq!(net.reservations().len(), N, "{N} reservation files");
    for (i, (pod, res)) in pods.iter().zip(&results).enumerate() {
        let (ip, _) = pod_ip(res);
        let on_pod = pod.ip_j(&["-4", "addr", "show", "dev", "eth0"]);
        assert_eq!(
            on_pod[0]["addr_info"][0]["local"], ip,
            "pod {i} holds its own address"
        );
    }
    std::thread::scope(|s| {
        for (i, pod) in pods.iter().enumerate() {
            let (node, conf) = (&node, &conf);
            s.spawn(move || {
                p.call(
                    node,
                    &Call::new("DEL", &format!("conc{i}"), Some(&pod.netns()), "eth0"),
                    conf,
                )
                .ok("DEL");
            });
        }
    });
    assert!(net.reservations().is_empty(), "every address released");
    assert_eq!(node.link_names(), vec!["lo"]);
}

pub fn failed_add_releases_ip(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("fail", "10.66.0.0/24");
    p.prepare_node(&node, &net);
    let pod = Holder::pod();
    // Something else already owns eth0 in the pod.
    pod.sh(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0",
    ]);
    let conf = p.config("1.0.0", &net).to_string();
    let out = p.call(
        &node,
        &Call::new("ADD", "clash", Some(&pod.netns()), "eth0"),
        &conf,
    );
    out.err_code("ADD onto an existing eth0");
    assert!(
        net.reserved_for("clash").is_empty(),
        "the reserved address was released"
    );
    assert_eq!(node.link_names(), vec!["lo"], "no host side left behind");
    let pod_links = pod.ip_j(&["-d", "link", "show", "dev", "eth0"]);
    assert_eq!(pod_links[0]["link"], "other0", "the pod's own eth0 is untouched");
    // The address is reusable: a good ADD afterwards succeeds.
    let pod2 = Holder::pod();
    p.call(
        &node,
        &Call::new("ADD", "after", Some(&pod2.netns()), "eth0"),
        &conf,
    )
    .ok("ADD after failure");
    assert_eq!(net.reservations().len(), 1);
    p.call(
        &node,
        &Call::new("DEL", "after", Some(&pod2.netns()), "eth0"),
        &conf,
    )
    .ok("DEL");
}

pub fn gc(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("gc", "10.67.0.0/24");
    p.prepare_node(&node, &net);
    let declared = p.declared_versions(&node);
    let conf = p.config("1.1.0", &net);
    let (keep, drop_) = (Holder::pod(), Holder::pod());
    if !declared.iter().any(|v| v == "1.1.0") {
        // A pre-1.1 plugin must refuse GC rather than guess.
        let conf = p.config("1.0.0", &net);
        let pod = Holder::pod();
        p.call(
            &node,
            &Call::new("ADD", "keep", Some(&pod.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("ADD");
        let mut gc = conf.clone();
        gc["cni.dev/valid-attachments"] = json!([]);
        p.call(&node, &Call::bare("GC"), &gc.to_string())
            .err_code("GC on a pre-1.1 plugin");
        assert_eq!(
            net.reserved_for("keep").len(),
            1,
            "nothing released by a refused GC"
        );
        p.call(
            &node,
            &Call::new("DEL", "keep", Some(&pod.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("DEL");
        eprintln!(
            "NOTE: {} does not declare 1.1.0; GC checked as refused only",
            p.name
        );
        return;
    }
    let r_keep = p
        .call(
            &node,
            &Call::new("ADD", "keep", Some(&keep.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("ADD")
        .clone();
    let r_drop = p
        .call(
            &node,
            &Call::new("ADD", "drop", Some(&drop_.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("ADD")
        .clone();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    let out = p.call(&node, &Call::bare("GC"), &gc.to_string());
    out.ok("GC");
    assert!(out.stdout.trim().is_empty(), "GC prints nothing");
    assert!(
        net.reserved_for("drop").is_empty(),
        "stale attachment's address released"
    );
    assert_eq!(net.reserved_for("keep").len(), 1, "valid attachment kept");
    if p.strict() {
        let drop_host = sides(&r_drop, &drop_.netns(), "eth0").0["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!node.link_names().contains(&drop_host), "stale host veth removed");
        assert!(drop_.link_names() == vec!["lo"], "stale pod eth0 removed");
    }
    verify_attachment(&node, &keep, &net, "keep", &r_keep);
    let with = with_prev(&conf, &r_keep).to_string();
    p.call(
        &node,
        &Call::new("CHECK", "keep", Some(&keep.netns()), "eth0"),
        &with,
    )
    .ok("CHECK after GC");
    let mut bad = conf.clone();
    bad["cni.dev/valid-attachments"] = json!("nope");
    if p.strict() {
        assert_eq!(
            p.call(&node, &Call::bare("GC"), &bad.to_string())
                .err_code("GC with a bad list"),
            7
        );
    }
    p.call(
        &node,
        &Call::new("DEL", "keep", Some(&keep.netns()), "eth0"),
        &with,
    )
    .ok("DEL");
}

pub fn status_tracks_free_addresses(p: &PluginUnderTest) {
    let node = Holder::node();
    let declared = p.declared_versions(&node);
    if !declared.iter().any(|v| v == "1.1.0") {
        eprintln!(
            "NOTE: {} does not declare 1.1.0; STATUS is covered by the lifecycle gate check",
            p.name
        );
        return;
    }
    // A /30: .1 is the gateway, .2 the only pod address.
    let net = Net::new("stat", "10.68.0.0/30");
    p.prepare_node(&node, &net);
    let conf = p.config("1.1.0", &net).to_string();
    p.call(&node, &Call::bare("STATUS"), &conf)
        .ok("STATUS with free addresses");
    let pod = Holder::pod();
    p.call(
        &node,
        &Call::new("ADD", "only", Some(&pod.netns()), "eth0"),
        &conf,
    )
    .ok("ADD");
    let full = p.call(&node, &Call::bare("STATUS"), &conf);
    assert_eq!(full.err_code("STATUS when exhausted"), 50);
    let pod2 = Holder::pod();
    p.call(
        &node,
        &Call::new("ADD", "one-too-many", Some(&pod2.netns()), "eth0"),
        &conf,
    )
    .err_code("ADD when exhausted");
    assert_eq!(pod2.link_names(), vec!["lo"]);
    p.call(
        &node,
        &Call::new("DEL", "only", Some(&pod.netns()), "eth0"),
        &conf,
    )
    .ok("DEL");
    p.call(&node, &Call::bare("STATUS"), &conf)
        .ok("STATUS after release");
}

pub fn pods_ping_each_other_and_gateway(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("ping", "10.69.0.0/24");
    p.prepare_node(&node, &net);
    let conf = p.config("1.0.0", &net).to_string();
    let (a, b) = (Holder::pod(), Holder::pod());
    let ra = p
        .call(
            &node,
            &Call::new("ADD", "ping-a", Some(&a.netns()), "eth0"),
            &conf,
        )
        .ok("ADD a")
        .clone();
    let rb = p
        .call(
            &node,
            &Call::new("ADD", "ping-b", Some(&b.netns()), "eth0"),
            &conf,
        )
        .ok("ADD b")
        .clone();
    let (ip_a, ip_b, gw) = (pod_ip(&ra).0, pod_ip(&rb).0, net.gateway());
    for (from, to) in [(&a, &ip_b), (&a, &gw), (&b, &ip_a), (&b, &gw)] {
        assert!(
            from.try_sh(&["ping", "-c", "1", "-W", "3", to]),
            "{} cannot ping {to} via {}",
            from.netns(),
            p.name
        );
    }
    // The pod resolved the gateway to the MAC of its host-side veth.
    let host_mac = sides(&ra, &a.netns(), "eth0").0["mac"]
        .as_str()
        .unwrap()
        .to_string();
    let neigh = a.ip_j(&["neigh", "show", "dev", "eth0"]);
    let gw_mac = neigh
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["dst"] == gw)
        .map(|n| n["lladdr"].clone());
    assert_eq!(
        gw_mac,
        Some(json!(host_mac)),
        "gateway resolves to the host side: {neigh}"
    );
    p.call(
        &node,
        &Call::new("DEL", "ping-a", Some(&a.netns()), "eth0"),
        &conf,
    )
    .ok("DEL a");
    p.call(
        &node,
        &Call::new("DEL", "ping-b", Some(&b.netns()), "eth0"),
        &conf,
    )
    .ok("DEL b");
}

pub fn check_detects_damage(p: &PluginUnderTest) {
    let node = Holder::node();
    let net = Net::new("dmg", "10.72.0.0/24");
    p.prepare_node(&node, &net);
    let pod = Holder::pod();
    let conf = p.config("1.0.0", &net);
    let res = p
        .call(
            &node,
            &Call::new("ADD", "dmg", Some(&pod.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("ADD")
        .clone();
    let with = with_prev(&conf, &res).to_string();
    let check = Call::new("CHECK", "dmg", Some(&pod.netns()), "eth0");
    p.call(&node, &check, &with).ok("CHECK of an intact attachment");
    // Someone removes the pod's default route: CHECK must notice.
    pod.sh(&["ip", "route", "del", "default"]);
    let out = p.call(&node, &check, &with);
    let code = out.err_code("CHECK without the default route");
    if p.strict() {
        assert_eq!(code, 100, "{}", out.stdout);
        assert!(
            out.text().contains("0.0.0.0/0"),
            "names the missing route: {}",
            out.stdout
        );
    }
    // And a prevResult claiming another address is caught too.
    let mut wrong = res.clone();
    wrong["ips"][0]["address"] = json!("10.72.0.200/32");
    let out = p.call(&node, &check, &with_prev(&conf, &wrong).to_string());
    out.err_code("CHECK with a foreign address");
    p.call(&node, &Call::new("DEL", "dmg", Some(&pod.netns()), "eth0"), &with)
        .ok("DEL");
    if p.strict() {
        // CNI_NETNS naming the node's own namespace is refused up front.
        let own = p.call(
            &node,
            &Call::new("ADD", "own", Some(&node.netns()), "eth0"),
            &conf.to_string(),
        );
        assert_eq!(own.err_code("ADD into the plugin's own netns"), 4);
        assert!(own.json["msg"].as_str().unwrap().contains("CNI_NETNS"));
        assert_eq!(node.link_names(), vec!["lo"]);
        assert!(net.reservations().is_empty());
    }
}

pub fn chained_add_keeps_prev_result(p: &PluginUnderTest) {
    if !p.strict() {
        eprintln!("NOTE: {} is not checked as a chained (non-first) plugin", p.name);
        return;
    }
    let node = Holder::node();
    let net = Net::new("chain", "10.73.0.0/24");
    p.prepare_node(&node, &net);
    let pod = Holder::pod();
    let prev = json!({"cniVersion": "1.1.0", "interfaces": [{"name": "earlier0"}],
        "ips": [{"address": "192.168.50.2/24", "interface": 0}], "dns": {"nameservers": ["10.96.0.10"]}});
    let conf = with_prev(&p.config("1.1.0", &net), &prev);
    let res = p
        .call(
            &node,
            &Call::new("ADD", "chain", Some(&pod.netns()), "eth0"),
            &conf.to_string(),
        )
        .ok("chained ADD")
        .clone();
    assert_eq!(
        res["interfaces"][0]["name"], "earlier0",
        "earlier interface passed through: {res}"
    );
    assert_eq!(res["ips"][0]["address"], "192.168.50.2/24");
    assert_eq!(res["dns"]["nameservers"][0], "10.96.0.10");
    let ours = &res["ips"][1];
    assert_eq!(
        res["interfaces"][ours["interface"].as_u64().unwrap() as usize]["name"],
        "eth0"
    );
    let with = with_prev(&p.config("1.1.0", &net), &res).to_string();
    p.call(
        &node,
        &Call::new("CHECK", "chain", Some(&pod.netns()), "eth0"),
        &with,
    )
    .ok("CHECK of the chained result");
    p.call(
        &node,
        &Call::new("DEL", "chain", Some(&pod.netns()), "eth0"),
        &with,
    )
    .ok("DEL");
    assert!(net.reservations().is_empty());
}

macro_rules! conformance {
    ($module:ident, $plugin:expr) => {
        mod $module {
            fn plugin(test: &str) -> Option<super::PluginUnderTest> {
                if super::skip_unless_root(test) {
                    return None;
                }
                let p = $plugin;
                assert!(p.available(), "{} not found at {}", p.name, p.bin.display());
                Some(p)
            }
            macro_rules! case {
                ($name:ident) => {
                    #[test]
                    fn $name() {
                        if let Some(p) = plugin(concat!(stringify!($module), "::", stringify!($name))) {
                            super::$name(&p);
                        }
                    }
                };
            }
            case!(version);
            case!(lifecycle);
            case!(readd_after_del);
            case!(del_unknown_and_vanished);
            case!(bad_environment);
            case!(bad_config);
            case!(concurrent_adds);
            case!(failed_add_releases_ip);
            case!(gc);
            case!(status_tracks_free_addresses);
            case!(pods_ping_each_other_and_gateway);
            case!(check_detects_damage);
            case!(chained_add_keeps_prev_result);
        }
    };
}

conformance!(ours, super::PluginUnderTest::ours());
// Ours as a node agent runs it: the installed program hands each call to
// the plugin inside the agent (here, this test process).
conformance!(delegated, super::PluginUnderTest::delegated());
conformance!(reference, super::PluginUnderTest::reference());

/// Our IPAM and host-local share one data directory without ever handing
/// out an address twice, and each releases only its own reservations.
#[test]
fn ipam_state_is_shared_with_host_local() {
    if skip_unless_root("ipam_state_is_shared_with_host_local") {
        return;
    }
    let (ours, reference) = (PluginUnderTest::ours(), PluginUnderTest::reference());
    let node = Holder::node();
    let net = Net::new("mix", "10.74.0.0/24");
    let (a, b, c) = (Holder::pod(), Holder::pod(), Holder::pod());
    let oc = ours.config("1.0.0", &net).to_string();
    let rc = reference.config("1.0.0", &net).to_string();
    let ra = ours
        .call(&node, &Call::new("ADD", "mix-a", Some(&a.netns()), "eth0"), &oc)
        .ok("ours ADD")
        .clone();
    let rb = reference
        .call(&node, &Call::new("ADD", "mix-b", Some(&b.netns()), "eth0"), &rc)
        .ok("ptp ADD")
        .clone();
    let rc_ = ours
        .call(&node, &Call::new("ADD", "mix-c", Some(&c.netns()), "eth0"), &oc)
        .ok("ours ADD")
        .clone();
    let ips: HashSet<String> = [&ra, &rb, &rc_].iter().map(|r| pod_ip(r).0).collect();
    assert_eq!(
        ips.len(),
        3,
        "three distinct addresses across both allocators: {ips:?}"
    );
    assert_eq!(net.reservations().len(), 3);
    // host-local releases its own reservation, ours releases ours.
    reference
        .call(&node, &Call::new("DEL", "mix-b", Some(&b.netns()), "eth0"), &rc)
        .ok("ptp DEL");
    assert!(net.reserved_for("mix-b").is_empty());
    assert_eq!(net.reservations().len(), 2);
    ours.call(&node, &Call::new("DEL", "mix-a", Some(&a.netns()), "eth0"), &oc)
        .ok("ours DEL");
    ours.call(&node, &Call::new("DEL", "mix-c", Some(&c.netns()), "eth0"), &oc)
        .ok("ours DEL");
    assert!(net.reservations().is_empty());
}

/// A retired pair whose detached deleter never ran (killed with the node,
/// say) is idle but still there: our GC deletes it, and nothing else.
#[test]
fn gc_deletes_retired_pairs_left_behind() {
    if skip_unless_root("gc_deletes_retired_pairs_left_behind") {
        return;
    }
    let ours = PluginUnderTest::ours();
    let node = Holder::node();
    let net = Net::new("sweep", "10.76.0.0/24");
    ours.prepare_node(&node, &net);
    node.sh(&[
        "ip", "link", "add", "lxd7777", "type", "veth", "peer", "name", "lxd7778",
    ]);
    node.sh(&[
        "ip", "link", "add", "keep0", "type", "veth", "peer", "name", "keep1",
    ]);
    let mut gc = ours.config("1.1.0", &net);
    gc["cni.dev/valid-attachments"] = json!([]);
    ours.call(&node, &Call::bare("GC"), &gc.to_string()).ok("GC");
    let mut left = node.link_names_now();
    left.sort();
    assert_eq!(
        left,
        vec!["keep0", "keep1", "lo"],
        "retired pair deleted, the rest kept"
    );
}
