//! Issue 19, acceptance 3 and 4 in a real cluster: an ExternalName Service
//! is a CNAME that `dig` reads from the cluster DNS behind 10.96.0.10; the
//! DNS pods serve CoreDNS's counters on 9153, reached with `curl` through
//! the kube-dns Service's `metrics` port; a LoadBalancer Service gets the
//! first address of the lab's pool (10.168.0.240) as its EXTERNAL-IP.
//! Root only; one lab, always taken down.

mod common;

use common::journey::eventually;
use common::{need_root, Lab};

fn kubectl(lab: &Lab, args: &[&str]) -> String {
    let mut cmd = vec!["kubectl"];
    cmd.extend_from_slice(args);
    lab.ssh_ok("node-0", &cmd)
}

#[test]
fn external_name_cname_dns_metrics_and_balancer_address() {
    if need_root("external_name_cname_dns_metrics_and_balancer_address") {
        cname_metrics_and_balancer("dnsext", &[]);
    }
}

/// Issue 20, acceptance 3: the cluster DNS on etcd, in every run.
#[test]
fn external_name_cname_dns_metrics_and_balancer_address_on_etcd() {
    if need_root("external_name_cname_dns_metrics_and_balancer_address_on_etcd") {
        cname_metrics_and_balancer("dnsext-etcd", &["--store", "etcd"]);
    }
}

/// The test in a lab tagged `tag`, brought up with `store` (`--store X`, or
/// none: `test_store()`'s choice).
fn cname_metrics_and_balancer(tag: &str, store: &[&str]) {
    let lab = Lab::cluster(tag, &[&["--workers", "1"][..], store].concat());
    let manifest = "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n\
        spec: {type: ExternalName, externalName: example.org}\n---\n\
        apiVersion: v1\nkind: Service\nmetadata: {name: front}\n\
        spec: {type: LoadBalancer, selector: {app: front}, ports: [{port: 80}]}\n";
    let out = lab.ssh(
        "node-0",
        &[
            "sh",
            "-c",
            &format!("printf '%s' '{manifest}' | kubectl apply -f -"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The CNAME, from a node through the kube-dns ClusterIP.
    let answer = eventually("the ExternalName CNAME", 300, || {
        let out = lab.ssh_ok(
            "node-1",
            &[
                "dig",
                "+noall",
                "+answer",
                "+time=2",
                "+tries=1",
                "@10.96.0.10",
                "ext.default.svc.cluster.local",
                "A",
            ],
        );
        let line = out
            .lines()
            .next()?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!line.is_empty()).then_some(line)
    });
    assert_eq!(answer, "ext.default.svc.cluster.local. 5 IN CNAME example.org.");

    // The metrics port, declared on the Service and served by the pods.
    let ports = kubectl(
        &lab,
        &[
            "-n",
            "kube-system",
            "get",
            "svc",
            "kube-dns",
            "-o",
            "jsonpath={range .spec.ports[*]}{.name}:{.port} {end}",
        ],
    );
    assert!(ports.contains("metrics:9153"), "{ports}");
    let want =
        "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",proto=\"udp\",family=\"1\",type=\"A\"} ";
    let metrics = eventually("A queries counted behind 10.96.0.10:9153", 300, || {
        let out = lab.ssh(
            "node-1",
            &["curl", "-sS", "--max-time", "5", "http://10.96.0.10:9153/metrics"],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().any(|l| l.starts_with(want)).then_some(text)
    });
    assert!(
        metrics.contains("# TYPE coredns_dns_request_duration_seconds histogram"),
        "{metrics}"
    );
    assert!(
        metrics.contains("coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",rcode=\"NOERROR\"}"),
        "{metrics}"
    );

    // The balancer's address from the lab's default pool.
    let row = eventually("front's EXTERNAL-IP", 600, || {
        let out = kubectl(&lab, &["get", "svc", "front", "--no-headers"]);
        let cols: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        (cols.get(3).map(String::as_str) == Some("10.168.0.240")).then_some(cols)
    });
    assert_eq!(row[1], "LoadBalancer");
    assert!(row[4].starts_with("80:3") && row[4].ends_with("/TCP"), "{row:?}");
    lab.down();
}
