//! Scenarios in the manner of the upstream conformance suite (read to
//! learn its method, not copied): namespaces x, y, z with pods a, b, c
//! each serving TCP and UDP on 80 and 81, every case judged over the whole
//! 9x9 matrix. Each expected truth table is written out by hand; every case
//! also checks that the compiled allow lists (what the datapaths render)
//! give the same verdict as the policies' meaning in every cell.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::compile::compile_node;
use crate::model::*;
use crate::selector::{Op, Selector};
use crate::verdict::{check, DirVerdict, Flow};

const NS: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];

fn ip(ns: usize, pod: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, ns as u8 + 1, pod as u8 + 10)
}

fn cluster(policies: Vec<Policy>) -> Cluster {
    let mut c = Cluster::default();
    for (ni, ns) in NS.iter().enumerate() {
        // Namespaces as created by kubectl here: with a label of their own,
        // and without the name label (the model adds it).
        c.namespaces
            .insert(ns.to_string(), [("ns".to_string(), ns.to_string())].into());
        for (pi, pod) in PODS.iter().enumerate() {
            let mut ports = Vec::new();
            for port in [80, 81] {
                for proto in [Protocol::Tcp, Protocol::Udp] {
                    ports.push(NamedPort {
                        name: format!("serve-{port}-{}", proto.lower()),
                        port,
                        protocol: proto,
                    });
                }
            }
            c.pods.push(Pod {
                namespace: ns.to_string(),
                name: pod.to_string(),
                labels: [("pod".to_string(), pod.to_string())].into(),
                ip: Some(ip(ni, pi)),
                node: format!("node-{}", pi % 2 + 1),
                ports,
            });
        }
    }
    c.policies = policies;
    c
}

/// The truth table: one line per source (x/a … z/c), one column per
/// destination, '.' allowed and 'X' refused.
fn matrix(c: &Cluster, protocol: Protocol, port: u16) -> String {
    let compiled = compile_node(c, None);
    let mut out = String::new();
    for si in 0..9 {
        for di in 0..9 {
            let flow = Flow {
                src: ip(si / 3, si % 3),
                dst: ip(di / 3, di % 3),
                protocol,
                port,
            };
            let v = check(c, flow);
            // The datapath's view: every isolated end needs an allow.
            let by_rules = compiled.pods.iter().all(|r| {
                let (me, peer) = match r.direction {
                    Direction::Ingress => (flow.dst, flow.src),
                    Direction::Egress => (flow.src, flow.dst),
                };
                r.ip != me || r.allows.iter().any(|a| a.matches(peer, protocol, port))
            });
            assert_eq!(v.allowed(), by_rules, "compiled rules disagree on {flow:?}: {v}");
            out.push(if v.allowed() { '.' } else { 'X' });
        }
        out.push('\n');
    }
    out
}

fn table(rows: &str) -> String {
    rows.split_whitespace().map(|r| format!("{r}\n")).collect()
}

fn policy(ns: &str, name: &str, sel: Selector) -> Policy {
    Policy {
        namespace: ns.into(),
        name: name.into(),
        pod_selector: sel,
        ingress: None,
        egress: None,
    }
}

fn from(peers: Vec<Peer>, ports: Vec<PolicyPort>) -> Rule {
    Rule { peers, ports }
}

fn tcp(p: PortMatch) -> PolicyPort {
    PolicyPort {
        protocol: Protocol::Tcp,
        port: p,
    }
}

fn pods_in(ns: Option<Selector>, pods: Option<Selector>) -> Peer {
    Peer::Pods { namespaces: ns, pods }
}

const ALL_OPEN: &str =
    "......... ......... ......... ......... ......... ......... ......... ......... .........";

#[test]
fn no_policy_allows_everything() {
    assert_eq!(matrix(&cluster(vec![]), Protocol::Tcp, 80), table(ALL_OPEN));
}

#[test]
fn deny_all_ingress_isolates_every_pod_of_its_namespace() {
    let mut p = policy("x", "deny-all", Selector::default());
    p.ingress = Some(vec![]);
    let c = cluster(vec![p]);
    let want = "XXX...... XXX...... XXX...... XXX...... XXX...... XXX...... XXX...... XXX...... XXX......";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
    assert_eq!(matrix(&c, Protocol::Udp, 81), table(want));
    let v = check(
        &c,
        Flow {
            src: ip(1, 0),
            dst: ip(0, 1),
            protocol: Protocol::Tcp,
            port: 9999,
        },
    );
    assert_eq!(
        v.to_string().lines().next().unwrap(),
        "dropped entering x/b: no policy selecting it allows TCP 9999 from y/a (10.0.2.10); it is isolated for ingress by x/deny-all"
    );
}

#[test]
fn deny_all_egress_blocks_leaving_but_not_entering() {
    let mut p = policy("x", "deny-egress", Selector::default());
    p.egress = Some(vec![]);
    let c = cluster(vec![p]);
    let want = "XXXXXXXXX XXXXXXXXX XXXXXXXXX ......... ......... ......... ......... ......... .........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
}

#[test]
fn allow_all_beside_deny_all_adds_up_to_open() {
    let mut deny = policy("x", "deny-all", Selector::default());
    deny.ingress = Some(vec![]);
    let mut allow = policy("x", "allow-all", Selector::default());
    allow.ingress = Some(vec![Rule::default()]);
    let c = cluster(vec![deny, allow]);
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(ALL_OPEN));
    let v = check(
        &c,
        Flow {
            src: ip(2, 2),
            dst: ip(0, 0),
            protocol: Protocol::Udp,
            port: 5,
        },
    );
    assert_eq!(
        v.ingress.unwrap().verdict,
        DirVerdict::Allowed {
            policy: PolicyRef {
                namespace: "x".into(),
                name: "allow-all".into()
            },
            rule: 0,
            peer: None
        }
    );
}

#[test]
fn from_a_namespace_by_its_name_label() {
    // x/a admits only pods of namespace y, selected by the name label the
    // namespaces here do not carry themselves.
    let mut p = policy("x", "from-y", Selector::labels([("pod", "a")]));
    let y = Selector::labels([(NAMESPACE_NAME_LABEL, "y")]);
    p.ingress = Some(vec![from(vec![pods_in(Some(y), None)], vec![])]);
    let c = cluster(vec![p]);
    let want = "X........ X........ X........ ......... ......... ......... X........ X........ X........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
}

#[test]
fn from_pods_of_a_namespace_both_selectors_together() {
    let mut p = policy("x", "from-z-b", Selector::labels([("pod", "a")]));
    let z = Selector::labels([("ns", "z")]);
    p.ingress = Some(vec![from(
        vec![pods_in(Some(z), Some(Selector::labels([("pod", "b")])))],
        vec![],
    )]);
    let c = cluster(vec![p]);
    let want = "X........ X........ X........ X........ X........ X........ X........ ......... X........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
}

#[test]
fn from_a_pod_of_the_same_namespace() {
    let mut p = policy("x", "from-b", Selector::labels([("pod", "a")]));
    p.ingress = Some(vec![from(
        vec![pods_in(None, Some(Selector::labels([("pod", "b")])))],
        vec![],
    )]);
    let c = cluster(vec![p]);
    let want = "X........ ......... X........ X........ X........ X........ X........ X........ X........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
    // Namespace selector with an expression: every namespace but x.
    let mut q = policy("x", "not-x", Selector::labels([("pod", "a")]));
    let mut sel = Selector::default();
    sel.expressions.push(("ns".into(), Op::NotIn(vec!["x".into()])));
    q.ingress = Some(vec![from(vec![pods_in(Some(sel), None)], vec![])]);
    let want = "X........ X........ X........ ......... ......... ......... ......... ......... .........";
    assert_eq!(matrix(&cluster(vec![q]), Protocol::Tcp, 80), table(want));
}

#[test]
fn named_and_numbered_ports() {
    let mut p = policy("x", "named", Selector::labels([("pod", "a")]));
    p.ingress = Some(vec![from(
        vec![],
        vec![tcp(PortMatch::Named("serve-81-tcp".into()))],
    )]);
    let c = cluster(vec![p]);
    let closed = "X........ X........ X........ X........ X........ X........ X........ X........ X........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(closed));
    assert_eq!(matrix(&c, Protocol::Tcp, 81), table(ALL_OPEN));
    assert_eq!(matrix(&c, Protocol::Udp, 81), table(closed));
    let mut q = policy("x", "numbered", Selector::labels([("pod", "a")]));
    q.ingress = Some(vec![from(vec![], vec![tcp(PortMatch::Range(80, 80))])]);
    let c = cluster(vec![q]);
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(ALL_OPEN));
    assert_eq!(matrix(&c, Protocol::Tcp, 81), table(closed));
}

#[test]
fn named_port_on_egress_resolves_per_destination() {
    // Pod c of y serves "serve-80-tcp" on 8080 instead: the name follows.
    let mut p = policy("x", "egress-named", Selector::labels([("pod", "a")]));
    p.egress = Some(vec![from(
        vec![],
        vec![tcp(PortMatch::Named("serve-80-tcp".into()))],
    )]);
    let mut c = cluster(vec![p]);
    let yc = c
        .pods
        .iter_mut()
        .find(|p| p.namespace == "y" && p.name == "c")
        .unwrap();
    yc.ports[0].port = 8080;
    let row = |port| {
        matrix(&c, Protocol::Tcp, port)
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(row(80), ".....X...");
    assert_eq!(row(8080), "XXXXX.XXX");
}

#[test]
fn end_port_ranges() {
    let mut p = policy("x", "range", Selector::labels([("pod", "a")]));
    p.ingress = Some(vec![from(vec![], vec![tcp(PortMatch::Range(81, 90))])]);
    let c = cluster(vec![p]);
    let closed = "X........ X........ X........ X........ X........ X........ X........ X........ X........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(closed));
    assert_eq!(matrix(&c, Protocol::Tcp, 81), table(ALL_OPEN));
    assert_eq!(matrix(&c, Protocol::Tcp, 90), table(ALL_OPEN));
    assert_eq!(matrix(&c, Protocol::Tcp, 91), table(closed));
}

#[test]
fn ip_block_with_except() {
    // Everything of 10.0.0.0/16 but namespace y's /24, minus nothing else.
    let mut p = policy("x", "cidr", Selector::labels([("pod", "a")]));
    let block = Peer::IpBlock {
        cidr: "10.0.0.0/16".parse().unwrap(),
        except: vec!["10.0.2.0/24".parse().unwrap(), Ipv4Net::from(ip(2, 1))],
    };
    p.ingress = Some(vec![from(vec![block], vec![])]);
    let c = cluster(vec![p]);
    let want = "......... ......... ......... X........ X........ X........ ......... X........ .........";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
    let v = check(
        &c,
        Flow {
            src: ip(0, 1),
            dst: ip(0, 0),
            protocol: Protocol::Tcp,
            port: 80,
        },
    );
    assert!(
        v.to_string()
            .contains("allowed by x/cidr, ingress rule 0, peer 0"),
        "{v}"
    );
}

#[test]
fn several_policies_and_both_directions() {
    // x/a may only talk to y/*; y/b admits only x/a.
    let mut out = policy("x", "a-to-y", Selector::labels([("pod", "a")]));
    out.egress = Some(vec![from(
        vec![pods_in(Some(Selector::labels([("ns", "y")])), None)],
        vec![],
    )]);
    let mut inn = policy("y", "b-from-x-a", Selector::labels([("pod", "b")]));
    inn.ingress = Some(vec![from(
        vec![pods_in(
            Some(Selector::labels([("ns", "x")])),
            Some(Selector::labels([("pod", "a")])),
        )],
        vec![],
    )]);
    let c = cluster(vec![out, inn]);
    let want = "XXX...XXX ....X.... ....X.... ....X.... ....X.... ....X.... ....X.... ....X.... ....X....";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
}

#[test]
fn egress_to_dns_only() {
    // x/* may send UDP 53 to kube-system's DNS pod and nothing else.
    let mut c = cluster(vec![]);
    c.pods.push(Pod {
        namespace: "kube-system".into(),
        name: "coredns".into(),
        labels: [("k8s-app".to_string(), "kube-dns".to_string())].into(),
        ip: Some(Ipv4Addr::new(10, 0, 9, 2)),
        node: "node-1".into(),
        ports: vec![],
    });
    let mut p = policy("x", "dns-only", Selector::default());
    let dns = pods_in(
        Some(Selector::labels([(NAMESPACE_NAME_LABEL, "kube-system")])),
        Some(Selector::labels([("k8s-app", "kube-dns")])),
    );
    let udp53 = PolicyPort {
        protocol: Protocol::Udp,
        port: PortMatch::Range(53, 53),
    };
    p.egress = Some(vec![from(vec![dns], vec![udp53])]);
    c.policies.push(p);
    let dns_ip = Ipv4Addr::new(10, 0, 9, 2);
    let go = |proto, port| {
        check(
            &c,
            Flow {
                src: ip(0, 0),
                dst: dns_ip,
                protocol: proto,
                port,
            },
        )
        .allowed()
    };
    assert!(go(Protocol::Udp, 53));
    assert!(!go(Protocol::Tcp, 53));
    assert!(!go(Protocol::Udp, 54));
    let want = "XXXXXXXXX XXXXXXXXX XXXXXXXXX ......... ......... ......... ......... ......... .........";
    assert_eq!(matrix(&c, Protocol::Udp, 80), table(want));
}

#[test]
fn policy_update_and_deletion_change_the_table() {
    let mut p = policy("y", "deny", Selector::labels([("pod", "c")]));
    p.ingress = Some(vec![]);
    let mut c = cluster(vec![p]);
    let want = ".....X... .....X... .....X... .....X... .....X... .....X... .....X... .....X... .....X...";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
    // Updated: now admits pod b of any namespace.
    c.policies[0].ingress = Some(vec![from(
        vec![pods_in(
            Some(Selector::default()),
            Some(Selector::labels([("pod", "b")])),
        )],
        vec![],
    )]);
    let want = ".....X... ......... .....X... .....X... ......... .....X... .....X... ......... .....X...";
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(want));
    c.policies.clear();
    assert_eq!(matrix(&c, Protocol::Tcp, 80), table(ALL_OPEN));
}

#[test]
fn own_node_may_always_connect() {
    let mut p = policy("x", "deny-all", Selector::default());
    p.ingress = Some(vec![]);
    let mut c = cluster(vec![p]);
    let node_ip = Ipv4Addr::new(10, 168, 0, 3);
    c.node_addresses.insert(node_ip, "node-1".into());
    // x/a runs on node-1, x/b on node-2.
    let probe = |dst| {
        check(
            &c,
            Flow {
                src: node_ip,
                dst,
                protocol: Protocol::Tcp,
                port: 80,
            },
        )
    };
    assert_eq!(probe(ip(0, 0)).ingress.unwrap().verdict, DirVerdict::FromOwnNode);
    assert!(!probe(ip(0, 1)).allowed());
}

#[test]
fn sctp_is_its_own_protocol() {
    let mut p = policy("x", "sctp", Selector::labels([("pod", "a")]));
    p.ingress = Some(vec![from(
        vec![],
        vec![PolicyPort {
            protocol: Protocol::Sctp,
            port: PortMatch::Any,
        }],
    )]);
    let c = cluster(vec![p]);
    assert_eq!(matrix(&c, Protocol::Sctp, 5000), table(ALL_OPEN));
    assert!(matrix(&c, Protocol::Tcp, 5000).starts_with("X........"));
}
