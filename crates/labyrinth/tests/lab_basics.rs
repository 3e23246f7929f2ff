//! Issue 2, acceptance 1 and the everyday commands: a default lab has three
//! nodes that reach each other over the VPC, each with its own hostname,
//! namespaces and tools' view.

mod common;
use common::*;

#[test]
fn default_lab_is_three_nodes_on_one_vpc() {
    if !need_root("default_lab_is_three_nodes_on_one_vpc") {
        return;
    }
    let lab = Lab::up("basic", &[]);
    let st = lab.status();
    assert_eq!(st["state"], "running");
    let nodes = st["nodes"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = nodes
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().into(),
                n["role"].as_str().unwrap().into(),
                n["address"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("node-0".into(), "control-plane".into(), "10.168.0.2".into()),
            ("node-1".into(), "worker".into(), "10.168.0.3".into()),
            ("node-2".into(), "worker".into(), "10.168.0.4".into()),
        ]
    );

    // node-1 reaches node-2 over the underlay.
    let ping = lab.ssh("node-1", &["ping", "-c", "2", "-W", "2", "10.168.0.4"]);
    assert!(
        ping.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(String::from_utf8_lossy(&ping.stdout).contains("2 received"));

    // Its own UTS namespace.
    assert_eq!(lab.ssh_ok("node-1", &["hostname"]).trim(), "node-1");
    assert_eq!(lab.ssh_ok("node-2", &["hostname"]).trim(), "node-2");

    // A command the node does not have: the shell's 127, said in words.
    let missing = lab.ssh("node-1", &["no-such-command-here"]);
    assert_eq!(missing.status.code(), Some(127), "{missing:?}");
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("no-such-command-here: command not found in node-1") && !said.contains("Some("),
        "{said}"
    );

    // Its own /run/netns: a namespace made on node-2 is not listed on node-1.
    lab.ssh_ok("node-2", &["ip", "netns", "add", "only-on-node-2"]);
    assert!(lab
        .ssh_ok("node-2", &["ip", "netns", "list"])
        .contains("only-on-node-2"));
    let on_node_1 = lab.ssh_ok("node-1", &["ip", "netns", "list"]);
    assert!(
        !on_node_1.contains("only-on-node-2"),
        "node-1 sees node-2's namespace: {on_node_1}"
    );
    assert!(
        !std::path::Path::new("/run/netns/only-on-node-2").exists(),
        "leaked to the host's /run/netns"
    );

    // Its own copy-on-write /etc, /opt and /var, as a VM's disk: what node-1
    // writes there (a CNI config, say) is seen neither by node-2 nor the host.
    let probe = format!("/etc/labyrinth-probe-{}", std::process::id());
    lab.ssh_ok(
        "node-1",
        &[
            "sh",
            "-c",
            &format!("mkdir -p /opt/cni/bin && echo node-1 > {probe}"),
        ],
    );
    assert_eq!(lab.ssh_ok("node-1", &["cat", &probe]).trim(), "node-1");
    assert!(
        !lab.ssh("node-2", &["cat", &probe]).status.success(),
        "node-2 sees node-1's /etc"
    );
    assert!(
        !std::path::Path::new(&probe).exists(),
        "node-1 wrote into the host's /etc"
    );
    assert_eq!(lab.ssh_ok("node-1", &["cat", "/etc/hostname"]).trim(), "node-1");

    // The uplink looks like a cloud VM's: ens4, MTU 1460, the node's address.
    let link = lab.ssh_ok("node-1", &["ip", "-j", "addr", "show", "ens4"]);
    let link: serde_json::Value = serde_json::from_str(&link).unwrap();
    assert_eq!(link[0]["mtu"], 1460);
    assert_eq!(link[0]["addr_info"][0]["local"], "10.168.0.3");
    assert_eq!(
        lab.ssh_ok("node-1", &["sysctl", "-n", "net.ipv4.ip_forward"])
            .trim(),
        "1"
    );

    // `ps` sees only this node's processes: its init and ps itself.
    let ps = lab.ssh_ok("node-1", &["ps", "-e", "-o", "pid=,comm="]);
    let pids: Vec<&str> = ps.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert!(pids.contains(&"1"), "no init in node pid namespace: {ps}");
    assert!(pids.len() <= 3, "node sees foreign processes: {ps}");
    lab.down();
}

#[test]
fn ssh_passes_stdin_stdout_and_exit_status() {
    if !need_root("ssh_passes_stdin_stdout_and_exit_status") {
        return;
    }
    let lab = Lab::up("ssh", &["--workers", "1"]);
    let out = labyrinth_with_stdin(
        &[
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-1",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; hostname; exit 7",
        ],
        b"hello from the host\n",
    );
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO FROM THE HOST\nnode-1\n"
    );
    lab.down();
}

#[test]
fn standard_tools_see_the_nodes_view() {
    if !need_root("standard_tools_see_the_nodes_view") {
        return;
    }
    let lab = Lab::up("tools", &["--workers", "1"]);
    // iptables and nft: the node's own (empty) rulesets, writable there only.
    lab.ssh_ok("node-1", &["iptables", "-t", "nat", "-N", "LAB-TEST"]);
    assert!(lab
        .ssh_ok("node-1", &["iptables-save", "-t", "nat"])
        .contains("LAB-TEST"));
    assert!(!lab
        .ssh_ok("node-0", &["iptables-save", "-t", "nat"])
        .contains("LAB-TEST"));
    lab.ssh_ok("node-1", &["nft", "add", "table", "ip", "labtest"]);
    assert!(lab
        .ssh_ok("node-1", &["nft", "list", "tables"])
        .contains("labtest"));
    assert!(!lab
        .ssh_ok("node-0", &["nft", "list", "tables"])
        .contains("labtest"));
    // Capture tools list the node's devices.
    let ifaces = lab.ssh_ok("node-1", &["tcpdump", "-D"]);
    assert!(ifaces.contains("ens4"), "tcpdump -D: {ifaces}");
    // A capture on ens4 sees node-0's ping, dissected by tshark.
    let cap = std::process::Command::new(BIN)
        .args([
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-1",
            "--",
            "tshark",
            "-i",
            "ens4",
            "-c",
            "2",
            "-a",
            "duration:10",
            "-f",
            "icmp",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Keep pinging until the capture has what it needs (bounded by -w).
    let mut pinger = std::process::Command::new(BIN)
        .args([
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-0",
            "--",
            "ping",
            "-q",
            "-i",
            "0.2",
            "-w",
            "15",
            "10.168.0.3",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = cap.wait_with_output().unwrap();
    stop(&mut pinger);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.168.0.2\t10.168.0.3"), "tshark saw: {text:?}");
    // bpftool works against the node's bpffs and netns.
    let bpf = lab.ssh("node-1", &["bpftool", "net", "show"]);
    assert!(
        bpf.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&bpf.stderr)
    );
    lab.down();
}

#[test]
fn up_refuses_an_existing_name_and_recreate_replaces_it() {
    if !need_root("up_refuses_an_existing_name_and_recreate_replaces_it") {
        return;
    }
    let lab = Lab::up("dup", &["--workers", "1"]);
    let first_pid = lab.vpc_pid();
    let again = labyrinth(&["lab", "up", "--bare", "--name", &lab.name, "--workers", "1"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already exists") && err.contains(&lab.name), "{err}");
    assert_eq!(
        lab.vpc_pid(),
        first_pid,
        "the refused up disturbed the running lab"
    );

    let said = ok(&labyrinth(&[
        "lab",
        "up",
        "--bare",
        "--name",
        &lab.name,
        "--workers",
        "2",
        "--recreate",
    ]));
    // stdout is a pipe here, as in `lab up > log`: the summary is there.
    assert!(
        said.starts_with(&format!(
            "lab {} is up: 3 nodes (bare machines, no cluster) in ",
            lab.name
        )) && said.contains(&format!("labyrinth lab ssh --name {} node-1", lab.name))
            && said.contains(&format!("labyrinth lab down --name {}", lab.name)),
        "{said}"
    );
    reap(first_pid);
    let st = lab.status();
    assert_ne!(st["vpcPid"].as_u64().unwrap() as u32, first_pid);
    assert_eq!(st["nodes"].as_array().unwrap().len(), 3);
    // A bare lab has no API, so no endpoint on the host nor kubeconfig:
    // both ways in say so.
    assert!(st["apiEndpoint"].is_null(), "{st}");
    assert!(!said.contains("KUBECONFIG"), "{said}");
    for argv in [
        vec!["lab", "kubeconfig", "--name", &lab.name],
        vec!["kubectl", "--name", &lab.name, "get", "nodes"],
    ] {
        let out = labyrinth(&argv);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&format!("lab {} has no cluster to talk to", lab.name)),
            "{argv:?}: {out:?}"
        );
    }
    let ls: serde_json::Value = serde_json::from_str(&ok(&labyrinth(&["lab", "ls", "--json"]))).unwrap();
    assert!(ls
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["name"] == lab.name.as_str() && l["state"] == "running"));
    lab.down();
}

#[test]
fn a_lab_outlives_the_terminal_that_started_it() {
    const TEST: &str = "a_lab_outlives_the_terminal_that_started_it";
    if !need_root(TEST) {
        return;
    }
    let Some(script) = labyrinth_testkit::root::tool(TEST, "script") else {
        return;
    };
    // `script` gives `lab up` a terminal of its own and hangs it up when
    // the command is done, as closing a terminal window does.
    let lab = Lab {
        name: lab_name("tty"),
    };
    let cmd = format!("{BIN} lab up --bare --workers 1 --name {}", lab.name);
    let out = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script");
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("lab {} is up", lab.name)), "{said}");
    // The hang-up has been delivered by the time `script` returns; the
    // machines are still there and reachable.
    assert_eq!(lab.status()["state"], "running");
    assert_eq!(lab.ssh_ok("node-1", &["hostname"]).trim(), "node-1");
    lab.down();
}
