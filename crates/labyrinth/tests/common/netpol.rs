//! NetworkPolicy scenarios shared by the datapaths' root tests
//! (netpol_iptables.rs, netpol_nftables.rs): the same policies applied
//! with kubectl, the same real connections probed (nc and dig from pods),
//! and each datapath's own listing checked through a [`Rendering`].
//! One lab: deny-all ingress, an allow by podSelector on a named port,
//! by namespaceSelector, replies into an isolated client, egress deny
//! blocking DNS until DNS is allowed, the pod's own node always let in, a
//! connection open before a policy kept, and deleting restores traffic.

use super::journey::*;
use super::*;
use std::process::{Child, Command, Stdio};

/// How one datapath shows the policy state, for the shared scenarios.
pub struct Rendering {
    /// `--datapath` of the lab.
    pub datapath: &'static str,
    /// The node's policy state as the datapath's own tool lists it.
    pub list: fn(&Lab, &str) -> String,
    /// What the listing of np-srv/server's node holds under deny-all
    /// (argument: the server's IP).
    pub deny_all: fn(&str) -> Vec<String>,
    /// What it holds once allow-friend admits the friend (its IP).
    pub allow_friend: fn(&str) -> Vec<String>,
    /// Marks of a pod chain; none may remain once every policy is gone.
    pub pod_chain_marks: &'static [&'static str],
    /// How `labyrinth explain` names the dropping chain ("iptables
    /// LABY-IN-"); None where explain does not read this datapath yet.
    pub explained_as: Option<&'static str>,
    /// Whether `labyrinth observe` in the node names the policy of a drop
    /// (iptables and nftables: from their NFLOG group).
    pub observe_names: bool,
    /// One agent per node (`lab up --single-agent`): the test moves one
    /// node to another datapath, which a DaemonSet for all nodes cannot.
    pub single_agent: bool,
}

/// `labyrinth observe --json --count 1` in `node` while `attempt` runs
/// until it has reported a drop: that drop's JSON.
fn observe_one_drop(lab: &Lab, node: &str, attempt: impl Fn()) -> serde_json::Value {
    let mut observe = Command::new(BIN)
        .args([
            "lab", "ssh", "--name", &lab.name, node, "--", BIN, "observe", "--json",
        ])
        .args(["--count", "1", "--seconds", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader binds its group a moment after starting: try until it
    // has seen one (each attempt's SYN retries are dropped and logged).
    for _ in 0..30 {
        if observe.try_wait().unwrap().is_some() {
            break;
        }
        attempt();
    }
    let out = observe.wait_with_output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("observe printed no drop ({e}): {line:?}"))
}

/// The listing holds every one of `want`.
fn assert_holds(listing: &str, want: &[String]) {
    for w in want {
        assert!(listing.contains(w.as_str()), "{w}\nnot in\n{listing}");
    }
}

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/netpol");

fn pod(name: &str, labels: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec:\n  \
         nodeName: {node}\n  containers:\n  - name: netexec\n    image: labyrinth/netexec\n    \
         command: [labyrinth, netexec, serve, --port, \"8080\"]\n    ports:\n    \
         - {{name: http, containerPort: 8080, protocol: TCP}}\n"
    )
}

/// Does a TCP connection from the pod to ip:port open (2 s at most)?
fn connects(lab: &Lab, (ns, pod): (&str, &str), ip: &str, port: u16) -> bool {
    exec(lab, ns, pod, &format!("nc -z -w 2 {ip} {port}"))
        .status
        .success()
}

/// Wait (up to 60 tries) until the connection's outcome is `want`.
pub fn until_connects(lab: &Lab, from: (&str, &str), ip: &str, want: bool) {
    eventually(&format!("{from:?} -> {ip}:8080 connects={want}"), 60, || {
        (connects(lab, from, ip, 8080) == want).then_some(())
    });
}

fn apply(lab: &Lab, ns: &str, yaml: &str) {
    kubectl_apply(lab, ns, yaml);
}

fn background(lab: &Lab, ns: &str, pod: &str, cmd: &str) -> Child {
    Command::new(BIN)
        .args(["exec", "--name", &lab.name, "-n", ns, pod, "--", "sh", "-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn file_has(lab: &Lab, (ns, pod): (&str, &str), file: &str, text: &str) -> bool {
    String::from_utf8_lossy(&exec(lab, ns, pod, &format!("cat {file} 2>/dev/null")).stdout).contains(text)
}

/// Run every scenario in one lab of `r.datapath`, named after `tag`; the
/// lab is returned for the datapath's own checks, every policy deleted.
pub fn network_policy_scenarios(tag: &str, r: &Rendering) -> Lab {
    let mut flags = vec!["--datapath", r.datapath];
    if r.single_agent {
        flags.push("--single-agent");
    }
    let lab = Lab::cluster(tag, &flags);
    kubectl_ok(&lab, &["create", "namespace", "np-srv"]);
    kubectl_ok(&lab, &["create", "namespace", "np-cli"]);
    kubectl_ok(&lab, &["create", "namespace", "np-other"]);
    kubectl_ok(&lab, &["label", "namespace", "np-cli", "team=blue"]);
    apply(&lab, "np-srv", &pod("server", "app: server", "node-2"));
    apply(&lab, "np-srv", &pod("friend", "role: friend", "node-1"));
    apply(&lab, "np-srv", &pod("stranger", "role: stranger", "node-1"));
    apply(&lab, "np-cli", &pod("client", "app: client", "node-1"));
    apply(&lab, "np-other", &pod("outsider", "app: client", "node-1"));
    for (ns, p) in [
        ("np-srv", "server"),
        ("np-srv", "friend"),
        ("np-srv", "stranger"),
        ("np-cli", "client"),
        ("np-other", "outsider"),
    ] {
        wait_ready(&lab, ns, p);
    }
    let server = pod_ip(&lab, "np-srv", "server");
    let (friend, stranger) = (("np-srv", "friend"), ("np-srv", "stranger"));
    let (client, outsider) = (("np-cli", "client"), ("np-other", "outsider"));
    until_connects(&lab, stranger, &server, true);

    // A connection opened before any policy: it must survive deny-all.
    let mut listener = background(&lab, "np-srv", "server", "timeout 120 nc -l -p 7000 > /tmp/got");
    eventually("the listener on 7000", 100, || {
        exec(&lab, "np-srv", "server", "ss -Hltn 'sport = 7000' | grep -q .")
            .status
            .success()
            .then_some(())
    });
    let mut talker = background(
        &lab,
        "np-srv",
        "stranger",
        &format!("(echo first; until [ -e /tmp/go ]; do sleep 0.2; done; echo second) | timeout 120 nc -N {server} 7000"),
    );
    eventually("the first line", 100, || {
        file_has(&lab, ("np-srv", "server"), "/tmp/got", "first").then_some(())
    });

    // Deny-all ingress: nobody gets in, except from the pod's own node.
    let deny = format!("{EXAMPLES}/deny-all.yaml");
    kubectl_ok(&lab, &["-n", "np-srv", "apply", "-f", &deny]);
    until_connects(&lab, stranger, &server, false);
    assert!(!connects(&lab, client, &server, 8080));
    assert_holds(&(r.list)(&lab, "node-2"), &(r.deny_all)(&server));
    if let Some(chain) = r.explained_as {
        let explain = ok(&labyrinth(&[
            "explain",
            "--name",
            &lab.name,
            "np-srv/stranger",
            &format!("{server}:8080"),
        ]));
        let stranger_ip = pod_ip(&lab, "np-srv", "stranger");
        let want = format!("dropped entering np-srv/server on node-2 ({chain}");
        assert!(explain.contains(&want), "{explain}");
        let why = format!(
            "no policy selecting it allows TCP 8080 from np-srv/stranger ({stranger_ip}); it is isolated for ingress by np-srv/deny-all"
        );
        assert!(explain.contains(&why), "{explain}");
        // A trace of the refused connection marks the hop it died at.
        let trace = labyrinth(&[
            "trace",
            "--name",
            &lab.name,
            "np-srv/stranger",
            &format!("{server}:8080"),
        ]);
        let text = String::from_utf8_lossy(&trace.stdout);
        let want = format!(
            "[policy] dropped by policy entering np-srv/server on node-2 at device {}",
            host_veth_of(&lab, "node-2", &server)
        );
        assert!(text.contains(&want), "{want}\nnot in\n{text}");
        assert!(text.contains(&why), "{text}");
    }
    if r.observe_names {
        let drop = observe_one_drop(&lab, "node-2", || {
            let _ = connects(&lab, stranger, &server, 8080);
        });
        assert_eq!(drop["dst"], format!("{server}:8080"), "{drop}");
        assert_eq!(drop["pod"], "np-srv/server", "{drop}");
        assert_eq!(drop["direction"], "ingress", "{drop}");
        assert_eq!(
            drop["isolated_by"],
            serde_json::json!(["np-srv/deny-all"]),
            "{drop}"
        );
    }
    let probe = lab.ssh("node-2", &["nc", "-z", "-w", "2", &server, "8080"]);
    assert!(probe.status.success(), "the pod's own node was refused");
    // The connection opened before the policy still carries data.
    exec_ok(&lab, "np-srv", "stranger", "touch /tmp/go");
    eventually("the second line on the old connection", 100, || {
        file_has(&lab, ("np-srv", "server"), "/tmp/got", "second").then_some(())
    });
    stop(&mut talker);
    stop(&mut listener);

    // podSelector on the named port: exactly the friend gets in.
    let friend_policy = format!("{EXAMPLES}/allow-friend.yaml");
    kubectl_ok(&lab, &["-n", "np-srv", "apply", "-f", &friend_policy]);
    until_connects(&lab, friend, &server, true);
    assert!(!connects(&lab, stranger, &server, 8080), "stranger got in");
    assert!(!connects(&lab, client, &server, 8080), "client got in");
    let friend_ip = pod_ip(&lab, "np-srv", "friend");
    assert_holds(&(r.list)(&lab, "node-2"), &(r.allow_friend)(&friend_ip));
    if r.explained_as.is_some() {
        let explain = ok(&labyrinth(&[
            "explain",
            "--name",
            &lab.name,
            "np-srv/friend",
            &format!("{server}:8080"),
        ]));
        assert!(
            explain.contains(
                "allowed entering np-srv/server on node-2 by np-srv/allow-friend ingress rule 0 peer 0"
            ),
            "{explain}"
        );
    }

    // namespaceSelector: the team=blue namespace's client, not the
    // outsider; the client is isolated for ingress itself, so the replies
    // get in only as part of the allowed connection.
    apply(
        &lab,
        "np-srv",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-blue}\nspec:\n  \
         podSelector: {matchLabels: {app: server}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: blue}}\n",
    );
    kubectl_ok(&lab, &["-n", "np-cli", "apply", "-f", &deny]);
    until_connects(&lab, client, &server, true);
    assert!(!connects(&lab, outsider, &server, 8080), "outsider got in");
    let client_ip = pod_ip(&lab, "np-cli", "client");
    assert!(
        !connects(&lab, friend, &client_ip, 8080),
        "the client is isolated"
    );

    // Egress deny blocks DNS, until DNS is allowed.
    let dig = "dig +short +tries=1 +time=2 @10.96.0.10 kubernetes.default.svc.cluster.local";
    assert!(exec(&lab, "np-cli", "client", dig).status.success());
    apply(
        &lab,
        "np-cli",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress}\nspec:\n  \
         podSelector: {}\n  policyTypes: [Egress]\n",
    );
    eventually("DNS blocked by egress deny", 60, || {
        (!exec(&lab, "np-cli", "client", dig).status.success()).then_some(())
    });
    apply(
        &lab,
        "np-cli",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-dns}\nspec:\n  \
         podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: \
         {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n      podSelector: {matchLabels: {k8s-app: kube-dns}}\n    \
         ports:\n    - {protocol: UDP, port: 53}\n    - {protocol: TCP, port: 53}\n",
    );
    eventually("DNS allowed again", 60, || {
        exec(&lab, "np-cli", "client", dig).status.success().then_some(())
    });
    assert!(
        !connects(&lab, client, &server, 8080),
        "egress to the server is still denied"
    );

    // Deleting the policies restores traffic and removes the chains.
    kubectl_ok(&lab, &["-n", "np-srv", "delete", "networkpolicy", "--all"]);
    kubectl_ok(&lab, &["-n", "np-cli", "delete", "networkpolicy", "--all"]);
    until_connects(&lab, stranger, &server, true);
    until_connects(&lab, client, &server, true);
    // With no policy left the agents stop watching pods; the next policy
    // starts the watch again, and a pod started meanwhile is judged too.
    apply(&lab, "np-srv", &pod("latecomer", "role: stranger", "node-1"));
    wait_ready(&lab, "np-srv", "latecomer");
    let latecomer = ("np-srv", "latecomer");
    until_connects(&lab, latecomer, &server, true);
    kubectl_ok(&lab, &["-n", "np-srv", "apply", "-f", &friend_policy]);
    until_connects(&lab, latecomer, &server, false);
    until_connects(&lab, friend, &server, true);
    kubectl_ok(&lab, &["-n", "np-srv", "delete", "networkpolicy", "--all"]);
    until_connects(&lab, latecomer, &server, true);
    for node in ["node-1", "node-2"] {
        let listing = (r.list)(&lab, node);
        for mark in r.pod_chain_marks {
            assert!(!listing.contains(mark), "{node}: {mark} left in\n{listing}");
        }
    }
    lab
}
