//! Issue 16, acceptance 8 (the HTTP half): requests per second from a pod
//! through a ClusterIP to three built-in `nginx` pods (the catalog's image:
//! Debian's nginx, one worker, its access log on stdout), beside the same
//! load from the same pod against Debian's nginx run on the node itself
//! (the same configuration, three workers: as many as the three pods
//! together, its access log in a file). The load is `wrk` (Debian's),
//! started inside the client pod. Rounds alternate, so a noisy neighbour
//! hits both sides alike; every round is printed, with the ratio.
//! In each datapath. JSON on stdout; nothing here is a timed assertion.
//! Run as root, in release:
//!   cargo test --release -p labyrinth --test bench_nginx -- --ignored --nocapture

mod common;
use common::journey::*;
use common::*;

const ROUNDS: usize = 3;
/// wrk's load: threads, connections, seconds per round.
const WRK: &str = "wrk -t2 -c32 -d5s";
/// Where the node's own nginx listens.
const NODE_PORT: u16 = 8088;

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: test}
spec:
  replicas: 3
  selector: {matchLabels: {app: test}}
  template:
    metadata: {labels: {app: test}}
    spec:
      containers: [{name: nginx, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: test}
spec:
  selector: {app: test}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: load}
spec:
  nodeName: node-1
  terminationGracePeriodSeconds: 1
  containers: [{name: wrk, image: busybox, command: [sleep, "3600"]}]
"#;

/// The node's nginx: the image's configuration with three workers and the
/// access log in a file, on the node's address. (Its logs go to files: a
/// daemon holding `lab ssh`'s output pipes would keep the call waiting.)
fn node_nginx_conf(addr: &str) -> String {
    format!(
        "worker_processes 3; pid /run/bench-nginx/nginx.pid; error_log /run/bench-nginx/error.log notice;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ include /etc/nginx/mime.types; default_type application/octet-stream;\n\
         access_log /run/bench-nginx/access.log; sendfile on; keepalive_timeout 65;\n\
         server {{ listen {addr}:{NODE_PORT}; location / {{ root /usr/share/nginx/html; index index.html; }} }} }}\n"
    )
}

/// wrk's Requests/sec, after checking every answer was a 2xx.
fn requests_per_second(lab: &Lab, url: &str) -> f64 {
    let out = exec_ok(lab, "web", "load", &format!("{WRK} {url}"));
    assert!(!out.contains("Non-2xx"), "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{out}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(datapath: &str) -> String {
    let lab = Lab::cluster(&format!("ngx{}", &datapath[..3]), &["--datapath", datapath]);
    kubectl_ok(&lab, &["create", "namespace", "web"]);
    kubectl_apply(&lab, "web", WEB);
    kubectl_ok(
        &lab,
        &[
            "-n",
            "web",
            "rollout",
            "status",
            "deployment/test",
            "--timeout=180s",
        ],
    );
    wait_ready(&lab, "web", "load");
    let node_ip = lab.status()["nodes"][1]["address"].as_str().unwrap().to_string();
    let conf = node_nginx_conf(&node_ip);
    lab.ssh_ok(
        "node-1",
        &[
            "sh",
            "-c",
            "mkdir -p /run/bench-nginx && printf %s \"$1\" > /run/bench-nginx/nginx.conf && nginx -c /run/bench-nginx/nginx.conf </dev/null >/dev/null 2>&1",
            "sh",
            &conf,
        ],
    );
    let svc = "http://test.web.svc.cluster.local/";
    let node = format!("http://{node_ip}:{NODE_PORT}/");
    // Both serve the same welcome page.
    for url in [svc, node.as_str()] {
        let page = exec_ok(&lab, "web", "load", &format!("wget -qO- {url}"));
        assert!(page.contains("Welcome to nginx"), "{url}: {page}");
    }
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let via_service = requests_per_second(&lab, svc);
        let on_node = requests_per_second(&lab, &node);
        rounds.push((via_service, on_node));
    }
    lab.ssh_ok("node-1", &["sh", "-c", "kill $(cat /run/bench-nginx/nginx.pid)"]);
    lab.down();
    let ratios: Vec<f64> = rounds.iter().map(|(s, n)| s / n).collect();
    let each: Vec<String> = rounds
        .iter()
        .zip(&ratios)
        .map(|((s, n), r)| {
            format!(r#"{{"clusterip_rps": {s:.0}, "node_nginx_rps": {n:.0}, "ratio": {r:.3}}}"#)
        })
        .collect();
    format!(
        r#"{{"datapath": "{datapath}", "load": "{WRK}", "rounds": [{}], "median_ratio": {:.3}}}"#,
        each.join(", "),
        median(ratios)
    )
}

#[test]
#[ignore]
fn bench_nginx_through_a_clusterip_against_nginx_on_the_node() {
    if !need_root("bench_nginx_through_a_clusterip_against_nginx_on_the_node") {
        return;
    }
    let results: Vec<String> = ["iptables", "nftables", "ebpf"].into_iter().map(bench).collect();
    println!("[{}]", results.join(",\n "));
}
