//! Issue 15, the newcomer's first hour: `labyrinth kubectl` with the user's
//! own files, `labyrinth` on the PATH of nodes and pods, `lab logs`, `lab ls`
//! and `lab status` agreeing, and `lab down` with a torn state record.

mod common;
use common::journey::*;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository's root, where the README's commands are typed.
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// `labyrinth ARGS` run from `dir`.
fn labyrinth_in(dir: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running labyrinth")
}

/// The state word `lab status` and `lab ls` print for `lab`, as JSON.
fn state_words(lab: &str) -> (String, String) {
    let status = labyrinth(&["lab", "status", "--name", lab, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("lab status --json: {e}: {status:?}"));
    let ls: serde_json::Value = serde_json::from_str(&ok(&labyrinth(&["lab", "ls", "--json"]))).unwrap();
    let listed = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == lab)
        .unwrap_or_else(|| panic!("lab ls does not list {lab}: {ls}"));
    (
        status["state"].as_str().unwrap().to_string(),
        listed["state"].as_str().unwrap().to_string(),
    )
}

/// The text tables say the same word.
fn table_words(lab: &str) -> (String, String) {
    let status = String::from_utf8_lossy(&labyrinth(&["lab", "status", "--name", lab]).stdout).into_owned();
    let first = status.lines().next().unwrap_or_default();
    let status_word = first
        .strip_prefix(&format!("lab {lab}: "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("lab status: {status}"))
        .to_string();
    let ls = ok(&labyrinth(&["lab", "ls"]));
    let row = ls
        .lines()
        .find(|l| l.split_whitespace().next() == Some(lab))
        .unwrap_or_else(|| panic!("lab ls: {ls}"));
    (status_word, row.split_whitespace().nth(1).unwrap().to_string())
}

#[test]
fn ls_and_status_say_the_same_state() {
    if !need_root("ls_and_status_say_the_same_state") {
        return;
    }
    let lab = Lab::up("agree", &["--workers", "1"]);
    assert_eq!(state_words(&lab.name), ("running".into(), "running".into()));
    assert_eq!(table_words(&lab.name), ("running".into(), "running".into()));

    // kill -9 of the lab's init: the lab is stale, for both.
    let vpc = lab.vpc_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(vpc as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually("the VPC init to die", 300, || {
        reap(vpc);
        (!std::path::Path::new(&format!("/proc/{vpc}")).exists()).then_some(())
    });
    assert_eq!(state_words(&lab.name), ("stale".into(), "stale".into()));
    assert_eq!(table_words(&lab.name), ("stale".into(), "stale".into()));
    ok(&labyrinth(&["lab", "down", "--name", &lab.name]));
    std::mem::forget(lab);
}

/// The namespaces (as `type:[inode]`) a process is in.
fn namespaces_of(pid: u32) -> BTreeSet<String> {
    ["net", "mnt", "uts", "ipc", "pid"]
        .iter()
        .map(|ns| {
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{ns}: {e}"))
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Every namespace still referenced on the machine (by a process, an open
/// file or a mount), with the processes (pid, start time) referencing it.
fn namespace_holders() -> BTreeMap<String, BTreeSet<(u32, u64)>> {
    let mut seen: BTreeMap<String, BTreeSet<(u32, u64)>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Ok(who) = labyrinth_netlink::process::ProcessRef::of(pid) else {
            continue;
        };
        let holder = (pid, who.start_time);
        for sub in ["ns", "fd"] {
            let Ok(dir) = std::fs::read_dir(entry.path().join(sub)) else {
                continue;
            };
            for link in dir.flatten() {
                if let Ok(target) = std::fs::read_link(link.path()) {
                    seen.entry(target.to_string_lossy().into_owned())
                        .or_default()
                        .insert(holder);
                }
            }
        }
        // nsfs mounts show up as `net:[inode]` in mountinfo's root field.
        if let Ok(mounts) = std::fs::read_to_string(entry.path().join("mountinfo")) {
            for m in mounts.lines().filter(|l| l.contains(" - nsfs ")) {
                if let Some(root) = m.split_whitespace().nth(3) {
                    seen.entry(root.trim_start_matches('/').to_string())
                        .or_default()
                        .insert(holder);
                }
            }
        }
    }
    seen
}

#[test]
fn down_with_a_torn_state_record_leaves_nothing() {
    if !need_root("down_with_a_torn_state_record_leaves_nothing") {
        return;
    }
    let lab = Lab::up("torn", &["--workers", "1"]);
    let st = lab.status();
    let mut inits = vec![st["vpcPid"].as_u64().unwrap() as u32];
    inits.extend(
        st["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["pid"].as_u64().unwrap() as u32),
    );
    let mut ours = BTreeSet::new();
    for pid in &inits {
        ours.extend(namespaces_of(*pid));
    }
    // Something running inside a node, not only the inits.
    lab.ssh_ok(
        "node-1",
        &["sh", "-c", "setsid -f sleep 1000 </dev/null >/dev/null 2>&1"],
    );
    assert!(!lab_processes(&lab.name).is_empty());

    let held_before = namespace_holders();
    let state = format!("/run/labyrinth/{}/state.json", lab.name);
    let text = std::fs::read(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 3]).unwrap();

    // Still listed, as broken, by both.
    assert_eq!(state_words(&lab.name), ("broken".into(), "broken".into()));

    let down = labyrinth(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{down:?}");
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(
        said.contains("state.json"),
        "down should say the record was unreadable: {said}"
    );
    for pid in &inits {
        reap(*pid);
    }
    assert_eq!(
        lab_processes(&lab.name),
        Vec::<u32>::new(),
        "processes of the lab remain"
    );
    for pid in &inits {
        let alive = labyrinth_netlink::process::ProcessRef::of(*pid).is_ok_and(|p| p.alive());
        assert!(!alive, "init {pid} still runs");
    }
    // The kernel reuses a freed namespace's inode number at once, so a
    // parallel test's new namespace may carry one of ours: a namespace of
    // the lab remains only if a process (by pid and start time) that held
    // it before `down` still holds it.
    let after = namespace_holders();
    let left: Vec<String> = ours
        .iter()
        .filter(|ns| {
            let (Some(then), Some(now)) = (held_before.get(*ns), after.get(*ns)) else {
                return false;
            };
            now.intersection(then).next().is_some()
        })
        .cloned()
        .collect();
    assert!(left.is_empty(), "namespaces of the lab remain: {left:?}");
    assert!(!std::path::Path::new(&format!("/run/labyrinth/{}", lab.name)).exists());
    std::mem::forget(lab);
}

/// Lines of a `lab logs -f` until `want` shows up (60 s at most: a generous
/// bound on a busy machine, not a measurement).
fn follow_until(lab: &Lab, want: &str, append: impl FnOnce()) {
    let mut child = Command::new(BIN)
        .args(["lab", "logs", "--name", &lab.name, "node-1", "agent", "-f"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let want_owned = want.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.contains(&want_owned) {
                let _ = tx.send(());
                break;
            }
        }
    });
    append();
    let got = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    assert!(got.is_ok(), "lab logs -f never printed {want:?}");
}

#[test]
fn kubectl_files_path_and_logs_in_a_cluster() {
    if !need_root("kubectl_files_path_and_logs_in_a_cluster") {
        return;
    }
    let lab = Lab::cluster("use", &["--datapath", "ebpf"]);
    let name = lab.name.as_str();

    // 1. kubectl with the user's files: a path relative to the repository's
    // root, a file in the host's /tmp, a kustomization directory; the host's
    // network namespace as it was.
    let before = HostSnapshot::take();
    kubectl_ok(&lab, &["label", "node", "node-1", "nodelabel=node-wrk-1"]);
    kubectl_ok(&lab, &["create", "namespace", "wrk-1"]);
    let out = ok(&labyrinth_in(
        REPO_ROOT,
        &[
            "kubectl",
            "--name",
            name,
            "-n",
            "wrk-1",
            "apply",
            "-f",
            "examples/journey/wrk-1.yaml",
        ],
    ));
    assert!(out.contains("service/node-wrk-1-ubuntu24 created"), "{out}");
    assert!(
        out.contains("deployment.apps/node-wrk-1-ubuntu24 created"),
        "{out}"
    );

    let tmp = format!("/tmp/{name}-serve.yaml");
    std::fs::write(
        &tmp,
        "apiVersion: v1\nkind: Service\nmetadata: {name: serve}\nspec:\n  selector: {app: serve}\n  \
         ports:\n  - {name: tcp, port: 8080, protocol: TCP}\n---\napiVersion: v1\nkind: Pod\n\
         metadata: {name: serve, labels: {app: serve}}\nspec:\n  nodeName: node-1\n  containers:\n  \
         - name: netexec\n    image: labyrinth/netexec\n    command: [labyrinth, netexec, serve, --port, \"8080\"]\n",
    )
    .unwrap();
    let out = ok(&labyrinth_in(
        "/",
        &["kubectl", "--name", name, "-n", "wrk-1", "apply", "-f", &tmp],
    ));
    let _ = std::fs::remove_file(&tmp);
    assert!(out.contains("pod/serve created"), "{out}");

    let kdir = format!("/tmp/{name}-kustomize");
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::write(format!("{kdir}/kustomization.yaml"), "resources:\n- cm.yaml\n").unwrap();
    std::fs::write(
        format!("{kdir}/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-k}\ndata: {k: v}\n",
    )
    .unwrap();
    let out = labyrinth_in(
        &kdir,
        &["kubectl", "--name", name, "-n", "wrk-1", "apply", "-k", "."],
    );
    let _ = std::fs::remove_dir_all(&kdir);
    assert!(ok(&out).contains("configmap/from-k created"), "{out:?}");
    assert_eq!(
        kubectl_ok(
            &lab,
            &["-n", "wrk-1", "get", "cm", "from-k", "-o", "jsonpath={.data.k}"]
        ),
        "v"
    );
    // kubectl's exit status passes through.
    let missing = kubectl(&lab, &["-n", "wrk-1", "get", "pod", "no-such-pod"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("not found"),
        "{missing:?}"
    );
    assert_eq!(
        HostSnapshot::take(),
        before,
        "labyrinth kubectl changed the host's network namespace"
    );
    // The admin credentials it used: the lab's own copy, for root only.
    let kubeconfig = format!("/run/labyrinth/{name}/admin.kubeconfig");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kubeconfig).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{kubeconfig}");
    // It names the API endpoint on the host's loopback, never the lab's
    // own address: the machine's kubectl run in the host's network
    // namespace, as `lab kubeconfig` says, reaches the cluster there and
    // leaves the host's namespace as it was.
    let path = ok(&labyrinth(&["lab", "kubeconfig", "--name", name]));
    assert_eq!(path.trim(), kubeconfig);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap_or_else(|| panic!("no server in {kubeconfig}:\n{text}"));
    let endpoint = server
        .strip_prefix("https://127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{kubeconfig} names {server}, not a port on the host's loopback"));
    assert!(
        !text.contains("10.168."),
        "{kubeconfig} names a lab address:\n{text}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(&labyrinth(&["lab", "status", "--name", name, "--json"]))).unwrap();
    assert_eq!(st["apiEndpoint"], server, "lab status --json: {st}");
    let host = Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "get", "nodes", "-o", "name"])
        .stdin(Stdio::null())
        .output()
        .expect("running the machine's kubectl");
    assert_eq!(
        ok(&host).split_whitespace().collect::<Vec<_>>(),
        ["node/node-0", "node/node-1", "node/node-2"],
        "{host:?}"
    );
    assert_eq!(
        HostSnapshot::take(),
        before,
        "the host's kubectl through the endpoint changed the host's network namespace"
    );

    // 2. `labyrinth` on the PATH in a node and in a pod.
    let client = eventually("the wrk-1 pod", 200, || {
        let n = kubectl_ok(
            &lab,
            &[
                "-n",
                "wrk-1",
                "get",
                "pods",
                "-l",
                "app=node-wrk-1-ubuntu24",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ],
        );
        (!n.is_empty()).then_some(n)
    });
    wait_ready(&lab, "wrk-1", &client);
    wait_ready(&lab, "wrk-1", "serve");
    let ip = kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-1",
            "get",
            "svc",
            "serve",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    let services = eventually("the Service in the eBPF map", 200, || {
        let out = lab.ssh_ok("node-1", &["labyrinth", "bpf", "map", "get", "services"]);
        out.contains(&ip).then_some(out)
    });
    assert!(services.contains(":8080"), "{services}");
    let pods = lab.ssh_ok("node-1", &["labyrinth", "runtime", "pods"]);
    assert!(pods.contains(&client) && pods.contains("serve"), "{pods}");
    let target = format!("{ip}:8080");
    let dial = ok(&labyrinth(&[
        "exec",
        "--name",
        name,
        "-n",
        "wrk-1",
        &client,
        "--",
        "labyrinth",
        "netexec",
        "dial",
        "--target",
        &target,
        "--tries",
        "3",
    ]));
    let report: serde_json::Value = serde_json::from_str(&dial).unwrap_or_else(|e| panic!("{dial}: {e}"));
    assert_eq!(report["answers"]["serve"], 3, "{dial}");
    // kubectl exec finds it too (the container's PATH).
    let which = kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-1",
            "exec",
            &client,
            "--",
            "sh",
            "-c",
            "command -v labyrinth",
        ],
    );
    assert_eq!(which.trim(), "/opt/labyrinth/bin/labyrinth");

    // 3. lab logs: the list, the agent's log, following, no colour codes.
    let list = ok(&labyrinth(&["lab", "logs", "--name", name]));
    for (node, component) in [
        ("vpc", "console"),
        ("vpc", "vpc-dns"),
        ("vpc", "api-endpoint"),
        ("node-0", "kube-apiserver"),
        ("node-1", "agent"),
        ("node-1", "console"),
    ] {
        assert!(
            list.lines()
                .any(|l| l.split_whitespace().take(2).eq([node, component])),
            "no {node} {component} in:\n{list}"
        );
    }
    let agent = ok(&labyrinth(&["lab", "logs", "--name", name, "node-1", "agent"]));
    assert!(agent.contains("streaming server listening"), "{agent}");
    let console = ok(&labyrinth(&["lab", "logs", "--name", name, "node-1", "console"]));
    assert!(console.contains("node-1: booted"), "{console}");
    let relay = ok(&labyrinth(&[
        "lab",
        "logs",
        "--name",
        name,
        "vpc",
        "api-endpoint",
    ]));
    assert!(
        relay.contains(&format!("relaying 127.0.0.1:{endpoint} (the host's loopback)")),
        "{relay}"
    );
    let mut checked = 0;
    for l in list.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let text = labyrinth(&["lab", "logs", "--name", name, f[0], f[1]]);
        assert!(text.status.success(), "{l}: {text:?}");
        assert!(
            !text.stdout.contains(&0x1b),
            "{} {} holds an ESC byte",
            f[0],
            f[1]
        );
        checked += 1;
    }
    assert!(checked >= 6, "{list}");
    let marker = format!("marker-{name}");
    follow_until(&lab, &marker, || {
        lab.ssh_ok(
            "node-1",
            &[
                "sh",
                "-c",
                &format!("echo {marker} >> /var/log/labyrinth/agent.log"),
            ],
        );
    });
    let bad = labyrinth(&["lab", "logs", "--name", name, "node-1", "no-such-component"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("has no \"no-such-component\" log"),
        "{bad:?}"
    );
    lab.down();
    // The endpoint ends with the lab.
    let refused = std::net::TcpStream::connect(("127.0.0.1", endpoint));
    assert!(
        refused.is_err(),
        "the API endpoint 127.0.0.1:{endpoint} still accepts after `lab down`"
    );
}
