//! Spread: a Service over three pods (one per node) running `labyrinth netexec serve`, and
//! 3,000 new TCP and 3,000 new UDP flows from the client pod through its
//! ClusterIP, counted by `labyrinth netexec dial`. Every backend answers
//! and Pearson's chi-square against an even spread keeps p above the
//! suite's threshold (`SUITE_REJECTS_BELOW`), as the per-crate datapath
//! tests ask of their rules and maps; and a TCP source
//! port reused at once is a new flow, balanced anew.

use std::collections::BTreeMap;

use labyrinth_netexec::chisquare::{uniform_p_value, SUITE_REJECTS_BELOW};

use super::*;

const FLOWS: u64 = 3000;

/// Our binary as the pods see it (the agent puts it on their PATH).
const POD_BIN: &str = "/opt/labyrinth/bin/labyrinth";

/// The Service, and one backend pod pinned to each node: for the client on
/// node-1 one is local (its own node), two are across the network.
fn manifest() -> String {
    let mut m = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: spread}\nspec:\n  \
         selector: {app: spread}\n  ports:\n  - {name: tcp, port: 8080, protocol: TCP}\n  \
         - {name: udp, port: 8080, protocol: UDP}\n",
    );
    for n in 0..3 {
        m += &format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: spread-{n}, labels: {{app: spread}}}}\n\
             spec:\n  nodeName: node-{n}\n  containers:\n  - name: netexec\n    \
             image: labyrinth/netexec\n    command: [labyrinth, netexec, serve, --port, \"8080\"]\n"
        );
    }
    m
}

/// `netexec dial` from the client pod; the answers by backend name, and
/// the report for messages.
fn dial(lab: &Lab, client: &str, target: &str, args: &str) -> (BTreeMap<String, u64>, serde_json::Value) {
    let cmd = format!("{POD_BIN} netexec dial --target {target} --timeout 2 --backends 3 {args}");
    let out = exec_ok(lab, "wrk-1", client, &cmd);
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("dial's report {out:?}: {e}"));
    let answers = serde_json::from_value(report["answers"].clone()).expect("answers");
    (answers, report)
}

/// The three backend pods, once they are Ready.
fn backends(lab: &Lab) -> Vec<String> {
    kubectl_apply(lab, "wrk-2", &manifest());
    let names: Vec<String> = (0..3).map(|n| format!("spread-{n}")).collect();
    for name in &names {
        wait_ready(lab, "wrk-2", name);
    }
    names
}

pub fn check_spread(lab: &Lab, dp: &str, client: &str) {
    let names = backends(lab);
    let ip = kubectl_ok(
        lab,
        &[
            "-n",
            "wrk-2",
            "get",
            "svc",
            "spread",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    let target = format!("{ip}:8080");
    for proto in ["tcp", "udp"] {
        // Until all three endpoints are programmed on node-1.
        eventually(&format!("all three backends over {proto}"), 100, || {
            let (answers, _) = dial(lab, client, &target, &format!("--protocol {proto} --tries 30"));
            (answers.len() == 3).then_some(())
        });
        let args = format!("--protocol {proto} --tries {FLOWS}");
        let (answers, report) = dial(lab, client, &target, &args);
        let seen: Vec<&String> = answers.keys().collect();
        assert_eq!(seen, names.iter().collect::<Vec<_>>(), "{dp} {proto}: {report}");
        assert_eq!(report["errors"], serde_json::json!({}), "{dp} {proto}: {report}");
        assert_eq!(report["sourcePorts"], FLOWS, "one new flow per try: {report}");
        let counts: Vec<u64> = answers.values().copied().collect();
        assert_eq!(counts.iter().sum::<u64>(), FLOWS, "{report}");
        let p = uniform_p_value(&counts);
        eprintln!("{dp}: {FLOWS} {proto} flows to {target}: {answers:?}, chi-square p = {p:.4}");
        assert!(
            p > SUITE_REJECTS_BELOW,
            "{dp} {proto}: uneven spread {answers:?} (p = {p})"
        );
    }
    // A client reusing a closed connection's source port at once opens a
    // new flow: a fresh backend choice each time, not the old conntrack
    // entry's (30 tries on one backend of three: chance 3^-29).
    // A port above the ephemeral range: no earlier flow holds it.
    let (answers, report) = dial(lab, client, &target, "--tries 30 --source-port 61999");
    assert_eq!(
        report["errors"],
        serde_json::json!({}),
        "{dp} reused port: {report}"
    );
    assert!(
        answers.len() > 1,
        "{dp}: 30 connections from one port all went to {answers:?}"
    );
}

/// A Service whose target port nothing listens on (the spread pods serve
/// 8080, it sends to 9): the backend's kernel answers each datagram with
/// ICMP port unreachable, which reaches the client translated back (from
/// the ClusterIP, quoting ClusterIP:port), so the connected socket fails
/// with "connection refused" instead of timing out. Needs check_spread's
/// pods.
pub fn check_refused_by_backend(lab: &Lab, dp: &str, client: &str) {
    kubectl_apply(
        lab,
        "wrk-2",
        "apiVersion: v1\nkind: Service\nmetadata: {name: closed}\nspec:\n  selector: {app: spread}\n  \
         ports:\n  - {name: udp, port: 8081, targetPort: 9, protocol: UDP}\n",
    );
    // dial exits 1 when nothing answered: read its report all the same.
    let cmd =
        format!("{POD_BIN} netexec dial --target closed.wrk-2:8081 --timeout 2 --protocol udp --tries 3");
    let what = format!("{dp}: the backends' port unreachable as refused");
    let report = eventually(&what, 30, || {
        let out = exec(lab, "wrk-1", client, &cmd);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (r["errors"]["refused"] == 3).then_some(r)
    });
    assert_eq!(report["answers"], serde_json::json!({}), "{dp}: {report}");
}
