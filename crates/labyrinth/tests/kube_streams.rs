//! Issue 17, acceptance 2: kube-rs (its `ws` feature, v5.channel.k8s.io)
//! against a lab's API server, as a Rust user's program on the control
//! node calls it: `logs`, `log_stream` with follow, `exec` with stdin
//! (`cat` echoes a line back, closing stdin ends it, the Status says
//! Success), a failing command's exit code read from the Status, and
//! `attach` to a running container's stdin. The client runs on a thread
//! that joined node-0's network namespace, so its sockets are node-0's.

mod common;
use common::journey::*;
use common::*;

use std::os::fd::AsFd;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, LogParams};
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "kube-rs";

const TALKER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - name: talk
    image: busybox
    command: [sh, -c, 'echo hello-log; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done']
  - name: echo
    image: busybox
    stdin: true
    command: [sh, -c, 'while read l; do echo got:$l; done']
"#;

#[test]
fn kube_rs_logs_exec_and_attach() {
    if !need_root("kube_rs_logs_exec_and_attach") {
        return;
    }
    let lab = Lab::cluster("kubers", &[]);
    kubectl_ok(&lab, &["create", "namespace", NS]);
    kubectl_apply(&lab, NS, TALKER);
    wait_ready(&lab, NS, "talker");
    let kubeconfig = lab.ssh_ok("node-0", &["cat", "/etc/kubernetes/admin.conf"]);
    let pid = lab.status()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node-0")
        .and_then(|n| n["pid"].as_u64())
        .expect("node-0's pid in lab status");
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    // A thread of its own: joining a network namespace is per thread, and a
    // current-thread runtime makes every socket on this thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("joining node-0's network namespace");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(calls(&kubeconfig));
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
    lab.down();
}

async fn calls(kubeconfig: &str) {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, NS);
    logs(&pods).await;
    exec_with_stdin(&pods).await;
    exec_failing(&pods).await;
    attach(&pods).await;
}

fn talk() -> LogParams {
    LogParams {
        container: Some("talk".into()),
        ..Default::default()
    }
}

/// The number in a `tick N` line.
fn tick(line: &str) -> u64 {
    line.strip_prefix("tick ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("not a tick line: {line:?}"))
}

async fn logs(pods: &Api<Pod>) {
    let all = pods.logs("talker", &talk()).await.unwrap();
    assert!(all.starts_with("hello-log\ntick 0\n"), "{all:?}");

    // Follow from the last line on: the next ones arrive as they are written.
    let lp = LogParams {
        follow: true,
        tail_lines: Some(1),
        ..talk()
    };
    let mut lines = pods.log_stream("talker", &lp).await.unwrap().lines();
    let first = tick(&lines.try_next().await.unwrap().expect("a first line"));
    let second = tick(&lines.try_next().await.unwrap().expect("a followed line"));
    let third = tick(&lines.try_next().await.unwrap().expect("a followed line"));
    assert_eq!((second, third), (first + 1, first + 2));
}

async fn exec_with_stdin(pods: &Api<Pod>) {
    let ap = AttachParams::default()
        .container("talk")
        .stdin(true)
        .stdout(true)
        .stderr(false);
    let mut p = pods.exec("talker", ["cat"], &ap).await.unwrap();
    let mut stdin = p.stdin().unwrap();
    let mut stdout = p.stdout().unwrap();
    let status = p.take_status().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    let mut echoed = [0u8; 6];
    stdout.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"hello\n");
    // Closing stdin (v5's close message) is cat's end of input.
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let status = status.await.expect("a Status on the error channel");
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
    p.join().await.unwrap();
}

async fn exec_failing(pods: &Api<Pod>) {
    let ap = AttachParams::default()
        .container("talk")
        .stdout(true)
        .stderr(true);
    let cmd = ["sh", "-c", "echo oops >&2; exit 3"];
    let mut p = pods.exec("talker", cmd, &ap).await.unwrap();
    let mut stderr = p.stderr().unwrap();
    let status = p.take_status().unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).await.unwrap();
    assert_eq!(err, "oops\n");
    let status = status.await.expect("a Status on the error channel");
    assert_eq!(
        (status.status.as_deref(), status.reason.as_deref()),
        (Some("Failure"), Some("NonZeroExitCode")),
        "{status:?}"
    );
    let causes = status.details.and_then(|d| d.causes).unwrap_or_default();
    let code: Vec<_> = causes
        .iter()
        .filter(|c| c.reason.as_deref() == Some("ExitCode"))
        .map(|c| c.message.as_deref())
        .collect();
    assert_eq!(code, [Some("3")]);
    p.join().await.unwrap();
}

async fn attach(pods: &Api<Pod>) {
    let ap = AttachParams::default()
        .container("echo")
        .stdin(true)
        .stdout(true)
        .stderr(false);
    let mut p = pods.attach("talker", &ap).await.unwrap();
    let mut stdin = p.stdin().unwrap();
    let mut stdout = p.stdout().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    let mut got = [0u8; 9];
    stdout.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"got:ping\n");
    // Detaching leaves the container running.
    p.abort();
}
