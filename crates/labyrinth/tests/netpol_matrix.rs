//! Issue 18, acceptance 1: the NetworkPolicy conformance matrix, by the
//! upstream e2e method (kubernetes test/e2e/network/netpol): namespaces x,
//! y and z, pods a, b and c in each serving TCP and UDP on ports 80 and 81
//! (agnhost serve-hostname, named ports serve-80-tcp …), every case's
//! policies applied with kubectl and the whole 9×9 matrix probed with
//! agnhost connect, the observed truth table compared with the one the
//! test's own model (tests/common/netpol_model.rs, not crates/policy)
//! computes. The same cases in each datapath, one lab per datapath.
//!
//! Prediction: once a step's probed tables are the model's, one
//! `labyrinth policy check --matrix --json` (crates/policy, what the agents
//! compile from) must predict every probed cell, and each dropped cell's
//! reason must name the isolating policies; and so must one `policy check
//! --matrix --programmed`, every cell judged by the rules the nodes hold
//! as `explain` walks them (iptables chains, nftables table, eBPF maps).
//!
//! Probing: one exec per source pod, its 9 probes in parallel with a 1 s
//! timeout, the 9 sources in parallel. A table that differs is probed
//! again (a policy takes a moment to reach the nodes) up to 10 times;
//! then the expected and observed tables are printed as upstream does.

mod common;
use common::journey::*;
use common::netpol_model::*;
use common::*;
use std::collections::BTreeMap;

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];
const TRIES: usize = 10;

fn server_pod(name: &str, node: &str) -> String {
    let serve =
        |port: u16| format!("labyrinth agnhost serve-hostname --tcp --udp --http=false --port {port}");
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{pod: {name}}}}}\nspec:\n  nodeName: {node}\n  \
         containers:\n  - name: serve\n    image: labyrinth/netexec\n    command: [sh, -c, \"{} & exec {}\"]\n    ports:\n    \
         - {{name: serve-80-tcp, containerPort: 80, protocol: TCP}}\n    - {{name: serve-80-udp, containerPort: 80, protocol: UDP}}\n    \
         - {{name: serve-81-tcp, containerPort: 81, protocol: TCP}}\n    - {{name: serve-81-udp, containerPort: 81, protocol: UDP}}\n",
        serve(80),
        serve(81)
    )
}

/// The node of pod `p` of namespace `ns`: spread so some pairs share a
/// node and some cross the network.
fn node_of(ns: &str, p: &str) -> &'static str {
    let i = PODS.iter().position(|x| *x == p).unwrap();
    if (i + ns.len() + usize::from(ns == "y")).is_multiple_of(2) {
        "node-1"
    } else {
        "node-2"
    }
}

/// The namespaces and pods, up and serving; the model of them.
fn setup(lab: &Lab) -> Model {
    let mut namespaces = BTreeMap::new();
    for ns in NAMESPACES {
        kubectl_ok(lab, &["create", "namespace", ns]);
        kubectl_ok(lab, &["label", "namespace", ns, &format!("ns={ns}")]);
        let labels = [("ns", ns), ("kubernetes.io/metadata.name", ns)];
        namespaces.insert(
            ns.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        for p in PODS {
            kubectl_apply(lab, ns, &server_pod(p, node_of(ns, p)));
        }
    }
    let mut pods = Vec::new();
    for ns in NAMESPACES {
        for p in PODS {
            wait_ready(lab, ns, p);
            let ip = pod_ip(lab, ns, p).parse().unwrap();
            pods.push(ModelPod {
                ns: ns.into(),
                name: p.into(),
                labels: [("pod".to_string(), p.to_string())].into(),
                ip,
                ports: vec![
                    ("serve-80-tcp".into(), Proto::Tcp, 80),
                    ("serve-80-udp".into(), Proto::Udp, 80),
                    ("serve-81-tcp".into(), Proto::Tcp, 81),
                    ("serve-81-udp".into(), Proto::Udp, 81),
                ],
            });
        }
    }
    Model { pods, namespaces }
}

/// Probe every (source, destination) for each of `combos` at once.
fn probe(lab: &Lab, model: &Model, combos: &[(u16, Proto)]) -> BTreeMap<(u16, Proto), Table> {
    let mut script = String::new();
    for to in &model.pods {
        for (port, proto) in combos {
            script += &format!(
                "(labyrinth agnhost connect {}:{port} --timeout 1s --protocol {} >/dev/null 2>&1 && echo '{} {port} {} 1' || echo '{} {port} {} 0') &\n",
                to.ip,
                proto.lower(),
                to.id(),
                proto.lower(),
                to.id(),
                proto.lower()
            );
        }
    }
    script += "wait\n";
    let outs: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = model
            .pods
            .iter()
            .map(|from| {
                let script = &script;
                s.spawn(move || {
                    let out = exec(lab, &from.ns, &from.name, script);
                    (from.id(), String::from_utf8_lossy(&out.stdout).into_owned())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut tables: BTreeMap<(u16, Proto), Table> = BTreeMap::new();
    for (from, out) in outs {
        for line in out.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [to, port, proto, ok] = f[..] else { continue };
            let proto = if proto == "udp" { Proto::Udp } else { Proto::Tcp };
            tables
                .entry((port.parse().unwrap(), proto))
                .or_default()
                .cells
                .insert((from.clone(), to.to_string()), ok == "1");
        }
    }
    tables
}

/// `policy check --matrix`'s tables for `combos` (one call answers all),
/// and its reason for each cell predicted dropped; `programmed`: judged
/// by the rules the nodes hold, as `explain` walks them.
fn predicted(
    lab: &Lab,
    combos: &[(u16, Proto)],
    programmed: bool,
) -> (BTreeMap<(u16, Proto), Table>, Vec<String>) {
    let join = |v: Vec<String>| v.join(",");
    let ports = join(combos.iter().map(|c| c.0.to_string()).collect());
    let protos = join(combos.iter().map(|c| c.1.name().to_string()).collect());
    let mut args = vec![
        "policy",
        "check",
        "--name",
        &lab.name,
        "--matrix",
        "-n",
        "x,y,z",
        "--port",
        &ports,
        "--protocol",
        &protos,
        "--json",
    ];
    if programmed {
        args.push("--programmed");
    }
    let out = ok(&labyrinth(&args));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (mut tables, mut reasons) = (BTreeMap::<(u16, Proto), Table>::new(), Vec::new());
    for cell in v["cells"].as_array().unwrap() {
        let proto = if cell["protocol"] == "UDP" {
            Proto::Udp
        } else {
            Proto::Tcp
        };
        let key = (cell["port"].as_u64().unwrap() as u16, proto);
        if !combos.contains(&key) {
            continue; // the product of ports and protocols holds more
        }
        let allowed = cell["allowed"].as_bool().unwrap();
        let (from, to) = (cell["from"].as_str().unwrap(), cell["to"].as_str().unwrap());
        if !allowed {
            reasons.push(format!("{from} → {to}: {}", cell["reason"].as_str().unwrap()));
        }
        tables
            .entry(key)
            .or_default()
            .cells
            .insert((from.to_string(), to.to_string()), allowed);
    }
    (tables, reasons)
}

/// Every cell `policy check` predicts is the probed one, and every drop
/// it predicts names a policy of the case that isolates the pod; the
/// same for the verdicts `explain` reads from the nodes' rules, every
/// cell at once (`--programmed`: one read of each node).
fn check_predictions(lab: &Lab, case: &str, policies: &[PolicySpec], got: &BTreeMap<(u16, Proto), Table>) {
    let combos: Vec<(u16, Proto)> = got.keys().copied().collect();
    for (programmed, who) in [(false, "policy check"), (true, "explain (the nodes' rules)")] {
        let (tables, reasons) = predicted(lab, &combos, programmed);
        for (combo, probed) in got {
            let p = tables.get(combo).cloned().unwrap_or_default();
            assert!(
                &p == probed,
                "case {case:?} {} {}: {who} predicts\n{}probed\n{}differences (*)\n{}",
                combo.1.name(),
                combo.0,
                p.render(None),
                probed.render(None),
                probed.render(Some(&p))
            );
        }
        for r in reasons {
            let names_one = policies
                .iter()
                .any(|p| r.contains(&format!("{}/{}", p.ns, p.name)));
            let why = if programmed {
                r.contains(" is isolated by ") && r.ends_with("; no rule allows")
            } else {
                r.contains("no policy selecting it allows") && r.contains("; it is isolated for ")
            };
            assert!(
                names_one && why,
                "case {case:?}: {who}'s reason names no policy of the case: {r}"
            );
        }
    }
}

/// Probe until every table is the model's, or fail printing them; then
/// `policy check` must predict them, and (`trace_one`) a trace of the
/// first cell the model refuses must mark where it dies.
fn expect(
    lab: &Lab,
    model: &Model,
    case: &str,
    policies: &[PolicySpec],
    combos: &[(u16, Proto)],
    trace_one: bool,
) -> bool {
    let got = probe_until_model(lab, model, case, policies, combos);
    check_predictions(lab, case, policies, &got);
    trace_one && trace_a_drop(lab, model, case, policies, combos)
}

/// The first cell the model refuses (TCP combos first, then sources and
/// destinations in the model's order: deterministic), traced: the trace
/// must mark the dropping hop with the pod, node and device the model
/// names (the refusing pod's host-side veth, read from its node's
/// routes), the connection, and exactly the policies isolating that pod
/// in that direction. One trace per case keeps the suite's added time to
/// one flow per case.
fn trace_a_drop(
    lab: &Lab,
    model: &Model,
    case: &str,
    policies: &[PolicySpec],
    combos: &[(u16, Proto)],
) -> bool {
    let ordered = combos
        .iter()
        .filter(|c| c.1 == Proto::Tcp)
        .chain(combos.iter().filter(|c| c.1 != Proto::Tcp));
    let Some((from, to, (port, proto), r)) = ordered
        .flat_map(|c| {
            model
                .pods
                .iter()
                .flat_map(move |f| model.pods.iter().map(move |t| (f, t, *c)))
        })
        .find_map(|(f, t, c)| Some((f, t, c, model.drop_at(policies, f, t, c.0, c.1)?)))
    else {
        return false; // "allow all": nothing is refused
    };
    let mut args = vec![
        "trace".to_string(),
        "--name".into(),
        lab.name.clone(),
        from.id(),
        format!("{}:{port}", to.ip),
    ];
    if proto == Proto::Udp {
        args.push("--udp".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A flow that never arrives makes trace exit 1: its listing is read.
    let t = std::time::Instant::now();
    let text = String::from_utf8_lossy(&labyrinth(&args).stdout).into_owned();
    // What the trace adds to the suite's time, for the CI log.
    eprintln!(
        "case {case:?}: trace of {} → {}:{port} took {:.1} s",
        from.id(),
        to.id(),
        t.elapsed().as_secs_f64()
    );
    let node = node_of(&r.pod.ns, &r.pod.name);
    let (verb, word, dir, other) = if r.ingress {
        ("entering", "from", "ingress", from)
    } else {
        ("leaving", "to", "egress", to)
    };
    let at = format!(
        "dropped by policy {verb} {} on {node} at device {}",
        r.pod.id(),
        host_veth_of(lab, node, &r.pod.ip.to_string())
    );
    let why = format!(
        "no policy selecting it allows {} {port} {word} {} ({}); it is isolated for {dir} by ",
        proto.name(),
        other.id(),
        other.ip
    );
    let line = text
        .lines()
        .find(|l| l.contains("[policy]") && l.contains("dropped by policy"))
        .unwrap_or_else(|| {
            panic!(
                "case {case:?}: no policy drop in the trace of {} → {}:{port}\n{text}",
                from.id(),
                to.id()
            )
        });
    let by: Vec<&str> = line
        .split_once(&why)
        .map(|(_, by)| by.trim().split(", ").collect())
        .unwrap_or_default();
    assert!(
        line.contains(&at) && by == r.isolated_by,
        "case {case:?}: the trace of {} → {}:{port} should say {at:?} and {why:?}{:?}; it says\n{text}",
        from.id(),
        to.id(),
        r.isolated_by
    );
    true
}

fn probe_until_model(
    lab: &Lab,
    model: &Model,
    case: &str,
    policies: &[PolicySpec],
    combos: &[(u16, Proto)],
) -> BTreeMap<(u16, Proto), Table> {
    let want: BTreeMap<(u16, Proto), Table> = combos
        .iter()
        .map(|&(port, proto)| ((port, proto), model.table(policies, port, proto)))
        .collect();
    let mut got = BTreeMap::new();
    for _ in 0..TRIES {
        got = probe(lab, model, combos);
        if got == want {
            return got;
        }
    }
    let mut msg = format!("case {case:?}: the datapath's truth table is not the model's\n");
    for (combo, w) in &want {
        let g = got.get(combo).cloned().unwrap_or_default();
        if &g != w {
            msg += &format!(
                "\n{} {}: expected\n{}observed\n{}differences (*)\n{}",
                combo.1.name(),
                combo.0,
                w.render(None),
                g.render(None),
                w.render(Some(&g))
            );
        }
    }
    panic!("{msg}");
}

fn all_pods() -> Sel {
    vec![]
}
fn pod(p: &'static str) -> Sel {
    vec![("pod", p)]
}
fn ns(n: &'static str) -> Sel {
    vec![("ns", n)]
}
fn tcp(port: u16) -> PortSpec {
    PortSpec {
        proto: Proto::Tcp,
        port: Some(Port::Num(port)),
        end_port: None,
    }
}
fn named(proto: Proto, name: &'static str) -> PortSpec {
    PortSpec {
        proto,
        port: Some(Port::Name(name)),
        end_port: None,
    }
}
fn from(peers: Vec<PeerSpec>, ports: Vec<PortSpec>) -> Vec<RuleSpec> {
    vec![RuleSpec { peers, ports }]
}
fn pods(ns: Option<Sel>, pods: Option<Sel>) -> PeerSpec {
    PeerSpec::Pods { ns, pods }
}
fn ingress(n: &'static str, name: &'static str, sel: Sel, rules: Vec<RuleSpec>) -> PolicySpec {
    PolicySpec {
        ns: n,
        name,
        pod_selector: sel,
        ingress: Some(rules),
        egress: None,
    }
}
fn egress(n: &'static str, name: &'static str, sel: Sel, rules: Vec<RuleSpec>) -> PolicySpec {
    PolicySpec {
        ns: n,
        name,
        pod_selector: sel,
        ingress: None,
        egress: Some(rules),
    }
}

/// One step of a case: policies applied (or replaced by name), deleted,
/// then the matrix probed for `combos`.
struct Step {
    apply: Vec<PolicySpec>,
    delete: Vec<(&'static str, &'static str)>,
    combos: Vec<(u16, Proto)>,
}

fn step(apply: Vec<PolicySpec>, combos: &[(u16, Proto)]) -> Step {
    Step {
        apply,
        delete: vec![],
        combos: combos.to_vec(),
    }
}

const TCP80: (u16, Proto) = (80, Proto::Tcp);
const TCP81: (u16, Proto) = (81, Proto::Tcp);
const UDP80: (u16, Proto) = (80, Proto::Udp);
const UDP81: (u16, Proto) = (81, Proto::Udp);

fn cases(model: &Model) -> Vec<(&'static str, Vec<Step>)> {
    let ip = |id: &str| model.pods.iter().find(|p| p.id() == id).unwrap().ip;
    let host = |id: &str| ipnet::Ipv4Net::new(ip(id), 32).unwrap();
    vec![
        (
            "deny all ingress",
            vec![step(vec![ingress("x", "deny-all", all_pods(), vec![])], &[TCP80])],
        ),
        (
            "deny all egress",
            vec![step(
                vec![egress("x", "deny-all-egress", all_pods(), vec![])],
                &[TCP80],
            )],
        ),
        (
            "allow all (next to deny all)",
            vec![step(
                vec![
                    ingress("x", "deny-all", all_pods(), vec![]),
                    ingress("x", "allow-all", all_pods(), vec![RuleSpec::default()]),
                ],
                &[TCP80],
            )],
        ),
        (
            "from a namespace",
            vec![step(
                vec![ingress(
                    "x",
                    "from-y",
                    pod("a"),
                    from(vec![pods(Some(ns("y")), None)], vec![]),
                )],
                &[TCP80],
            )],
        ),
        (
            "from pods of a namespace",
            vec![step(
                vec![ingress(
                    "x",
                    "from-y-b",
                    pod("a"),
                    from(vec![pods(Some(ns("y")), Some(pod("b")))], vec![]),
                )],
                &[TCP80],
            )],
        ),
        (
            "from a pod in the same namespace",
            vec![step(
                vec![ingress(
                    "x",
                    "from-b",
                    pod("a"),
                    from(vec![pods(None, Some(pod("b")))], vec![]),
                )],
                &[TCP80],
            )],
        ),
        (
            "named and numbered ports",
            vec![step(
                vec![
                    ingress(
                        "x",
                        "a-81-by-name",
                        pod("a"),
                        from(vec![], vec![named(Proto::Tcp, "serve-81-tcp")]),
                    ),
                    ingress("x", "b-80-by-number", pod("b"), from(vec![], vec![tcp(80)])),
                    egress(
                        "y",
                        "c-to-80-udp-by-name",
                        pod("c"),
                        from(vec![], vec![named(Proto::Udp, "serve-80-udp")]),
                    ),
                ],
                &[TCP80, TCP81, UDP80],
            )],
        ),
        (
            "endPort",
            vec![step(
                vec![ingress(
                    "x",
                    "from-y-81-to-90",
                    pod("a"),
                    from(
                        vec![pods(Some(ns("y")), None)],
                        vec![PortSpec {
                            proto: Proto::Tcp,
                            port: Some(Port::Num(81)),
                            end_port: Some(90),
                        }],
                    ),
                )],
                &[TCP80, TCP81],
            )],
        ),
        (
            "ipBlock with except",
            vec![step(
                vec![
                    egress(
                        "x",
                        "a-to-pods-but-y-b",
                        pod("a"),
                        from(
                            vec![PeerSpec::Block {
                                cidr: "10.0.0.0/16".parse().unwrap(),
                                except: vec![host("y/b")],
                            }],
                            vec![],
                        ),
                    ),
                    ingress(
                        "z",
                        "c-from-x-c",
                        pod("c"),
                        from(
                            vec![PeerSpec::Block {
                                cidr: host("x/c"),
                                except: vec![],
                            }],
                            vec![],
                        ),
                    ),
                ],
                &[TCP80],
            )],
        ),
        (
            "several policies at once",
            vec![step(
                vec![
                    ingress(
                        "x",
                        "a-from-b",
                        pod("a"),
                        from(vec![pods(None, Some(pod("b")))], vec![]),
                    ),
                    ingress(
                        "x",
                        "a-from-z-c",
                        pod("a"),
                        from(vec![pods(Some(ns("z")), Some(pod("c")))], vec![]),
                    ),
                    egress("y", "a-no-egress", pod("a"), vec![]),
                    ingress(
                        "z",
                        "z-from-x-81",
                        all_pods(),
                        from(vec![pods(Some(ns("x")), None)], vec![tcp(81)]),
                    ),
                ],
                &[TCP80, TCP81],
            )],
        ),
        (
            "UDP only",
            vec![step(
                vec![ingress(
                    "x",
                    "a-udp-80",
                    pod("a"),
                    from(
                        vec![],
                        vec![PortSpec {
                            proto: Proto::Udp,
                            port: Some(Port::Num(80)),
                            end_port: None,
                        }],
                    ),
                )],
                &[TCP80, UDP80, UDP81],
            )],
        ),
        (
            "update and deletion",
            vec![
                step(
                    vec![ingress(
                        "x",
                        "a-from",
                        pod("a"),
                        from(vec![pods(None, Some(pod("b")))], vec![]),
                    )],
                    &[TCP80],
                ),
                step(
                    vec![ingress(
                        "x",
                        "a-from",
                        pod("a"),
                        from(vec![pods(None, Some(pod("c")))], vec![]),
                    )],
                    &[TCP80],
                ),
                Step {
                    apply: vec![],
                    delete: vec![("x", "a-from")],
                    combos: vec![TCP80],
                },
            ],
        ),
    ]
}

fn delete_all(lab: &Lab) {
    for n in NAMESPACES {
        kubectl_ok(lab, &["-n", n, "delete", "networkpolicy", "--all"]);
    }
}

/// Egress to DNS only: every probe from x fails, and x still resolves.
fn dns_only(lab: &Lab, model: &Model) {
    let dns = egress(
        "x",
        "dns-only",
        all_pods(),
        from(
            vec![],
            vec![
                PortSpec {
                    proto: Proto::Udp,
                    port: Some(Port::Num(53)),
                    end_port: None,
                },
                tcp(53),
            ],
        ),
    );
    kubectl_apply(lab, "x", &to_yaml(&dns));
    let traced = expect(
        lab,
        model,
        "egress to DNS only",
        std::slice::from_ref(&dns),
        &[TCP80, UDP80],
        true,
    );
    assert!(traced, "egress to DNS only: no drop traced");
    let dig = "dig +short +tries=3 +time=2 @10.96.0.10 kubernetes.default.svc.cluster.local";
    let answer = exec_ok(lab, "x", "a", dig);
    assert!(!answer.trim().is_empty(), "x/a resolves nothing under dns-only");
    delete_all(lab);
}

fn conformance(tag: &str, datapath: &str) {
    let lab = Lab::cluster(tag, &["--datapath", datapath]);
    let model = setup(&lab);
    let _ = expect(
        &lab,
        &model,
        "no policies",
        &[],
        &[TCP80, TCP81, UDP80, UDP81],
        false,
    );
    for (name, steps) in cases(&model) {
        let mut current: Vec<PolicySpec> = Vec::new();
        let mut traced = false;
        for s in steps {
            for p in s.apply {
                kubectl_apply(&lab, p.ns, &to_yaml(&p));
                current.retain(|c| (c.ns, c.name) != (p.ns, p.name));
                current.push(p);
            }
            for (n, name) in s.delete {
                kubectl_ok(&lab, &["-n", n, "delete", "networkpolicy", name]);
                current.retain(|c| (c.ns, c.name) != (n, name));
            }
            // One trace per case: its first step that refuses a cell.
            traced |= expect(&lab, &model, name, &current, &s.combos, !traced);
        }
        // Only "allow all" refuses nothing, so it has nothing to trace.
        assert!(
            traced || name.starts_with("allow all"),
            "case {name:?} traced no drop"
        );
        delete_all(&lab);
        let _ = expect(&lab, &model, &format!("after {name}: none"), &[], &[TCP80], false);
    }
    dns_only(&lab, &model);
    lab.down();
}

#[test]
fn policy_matrix_iptables() {
    if need_root("policy_matrix_iptables") {
        conformance("npm-ipt", "iptables");
    }
}

#[test]
fn policy_matrix_nftables() {
    if need_root("policy_matrix_nftables") {
        conformance("npm-nft", "nftables");
    }
}

#[test]
fn policy_matrix_ebpf() {
    if need_root("policy_matrix_ebpf") {
        conformance("npm-bpf", "ebpf");
    }
}
