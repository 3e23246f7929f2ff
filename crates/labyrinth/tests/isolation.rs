//! Issue 16, acceptance 4: a pod is isolated like a container runtime's:
//! `ps` lists the pod's processes only (its own PID namespace), a file
//! written under `/` stays in its container's root (seen neither by the node
//! nor by another pod), the environment is the pod's, not that of the
//! shell that ran `lab up`, and the node's own files (its credentials, the
//! other pods' tokens and logs, a control node's admin kubeconfig, the
//! host's /root and /home) are not in a pod's root. A container holds the
//! capabilities a container runtime gives (so it cannot unmount what hides
//! those files, nor reach them through its PID 1's root), changed by its
//! `securityContext`, which also sets its user and groups, a read-only
//! root, the runtime's default system-call filter and who owns the pod's
//! volumes.

mod common;

use common::*;

/// Exported in the environment `lab up` runs in: no pod may see it.
const LEAK: &str = "LABYRINTH_ISOLATION_SECRET";

const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  nodeName: node-1
  containers: [{name: box, image: busybox, command: [sleep, 365d], env: [{name: GREETING, value: hello}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeName: node-1
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: zero}
spec:
  nodeName: node-0
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: netadmin}
spec:
  nodeName: node-1
  containers:
  - {name: box, image: busybox, command: [sleep, 365d], securityContext: {capabilities: {add: [NET_ADMIN], drop: [NET_RAW]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  nodeName: node-2
  containers: [{name: box, image: busybox, command: [sleep, 365d], securityContext: {privileged: true}}]
---
apiVersion: v1
kind: Pod
metadata: {name: badcap}
spec:
  nodeName: node-2
  containers: [{name: box, image: busybox, command: [sleep, 365d], securityContext: {capabilities: {add: [WARP_DRIVE]}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  nodeName: node-2
  securityContext: {runAsUser: 4242, runAsGroup: 3000, supplementalGroups: [4000]}
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  nodeName: node-2
  securityContext: {runAsNonRoot: true}
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: readonly}
spec:
  nodeName: node-1
  containers:
  - name: box
    image: busybox
    command: [sleep, 365d]
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {}}]
---
# What PodSecurity's restricted profile asks of a pod.
apiVersion: v1
kind: Pod
metadata: {name: restricted}
spec:
  nodeName: node-2
  securityContext: {runAsUser: 4343, runAsNonRoot: true, fsGroup: 2000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: box
    image: busybox
    command: [sleep, 365d]
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: tuned}
spec:
  nodeName: node-1
  securityContext:
    runAsUser: 4242
    sysctls:
    - {name: net.ipv4.ip_local_port_range, value: \"20000 20100\"}
    - {name: net/ipv4/ip_unprivileged_port_start, value: \"80\"}
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: somaxconn}
spec:
  nodeName: node-1
  securityContext: {sysctls: [{name: net.core.somaxconn, value: \"1024\"}]}
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: mtuprobing}
spec:
  nodeName: node-1
  securityContext: {sysctls: [{name: net.ipv4.tcp_mtu_probing, value: \"1\"}]}
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: userns}
spec:
  nodeName: node-2
  hostUsers: false
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
";

/// The pod's ServiceAccount token, as a container sees it.
const TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Adds a key to the calling process's own keyring (add_key(2), which no
/// namespace separates from the node's) and prints the call's result and
/// errno: a key's serial, or -1 and 1 (EPERM) under the default filter.
const ADD_KEY: &str = "import ctypes, os; l = ctypes.CDLL(None, use_errno=True); \
nr = {'x86_64': 248, 'aarch64': 217}[os.uname().machine]; \
r = l.syscall(nr, b'user', b'labyrinth', b'x', 1, -2); print(r, ctypes.get_errno())";

/// Docker's and containerd's default set (CHOWN, DAC_OVERRIDE, FOWNER,
/// FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW,
/// SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP), as /proc prints it.
const DEFAULT_CAPS: &str = "00000000a80425fb";

fn sh(lab: &Lab, pod: &str, cmd: &str) -> String {
    kubectl_ok(lab, &["exec", pod, "--", "sh", "-c", cmd])
}

#[test]
fn pods_see_only_their_own_processes_files_and_environment() {
    if !need_root("pods_see_only_their_own_processes_files_and_environment") {
        return;
    }
    let name = lab_name("isolation");
    // `lab up` as a person's shell would run it, with a secret exported.
    let up = std::process::Command::new(BIN)
        .args([
            "lab",
            "up",
            "--name",
            &name,
            "--allowed-unsafe-sysctls",
            "net.core.somaxconn",
        ])
        .env(LEAK, "leaked")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let lab = Lab { name };
    ok(&up);
    kubectl_apply(&lab, "default", PODS);
    kubectl_ok(
        &lab,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/one",
            "pod/two",
            "pod/zero",
            "pod/netadmin",
            "pod/privileged",
            "pod/user",
            "pod/readonly",
            "pod/restricted",
            "pod/tuned",
            "pod/somaxconn",
            "--timeout=180s",
        ],
    );

    // Processes: the pod's PID 1 (its pause), its container's sleep, and
    // this exec's sh and ps; nothing of the node (agent, other pods).
    let ps = sh(&lab, "one", "ps -eo pid,comm");
    let procs: Vec<(u32, String)> = ps
        .lines()
        .skip(1)
        .map(|l| {
            let (pid, comm) = l.trim().split_once(' ').unwrap();
            (pid.parse().unwrap(), comm.trim().to_string())
        })
        .collect();
    assert_eq!(procs[0], (1, "labyrinth-pause".to_string()), "{ps}");
    let comms: Vec<&str> = procs.iter().map(|(_, c)| c.as_str()).collect();
    assert!(comms.contains(&"sleep"), "{ps}");
    assert!(
        comms
            .iter()
            .all(|c| ["labyrinth-pause", "sleep", "sh", "ps"].contains(c)),
        "only the pod's processes: {ps}"
    );
    let node_pids = lab.ssh_ok("node-1", &["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    assert!(
        node_pids.trim().parse::<usize>().unwrap() > procs.len() + 3,
        "the node has more processes than the pod shows ({node_pids})"
    );

    // Files: written under / in pod one; not on the node (nor the host,
    // whose / is the node's), not in pod two, still in pod one.
    let marker = format!("/isolation-{}", std::process::id());
    sh(
        &lab,
        "one",
        &format!("echo mine > {marker} && echo x > /etc/isolation-marker"),
    );
    assert_eq!(sh(&lab, "one", &format!("cat {marker}")).trim(), "mine");
    let node = lab.ssh(
        "node-1",
        &["sh", "-c", &format!("ls {marker} /etc/isolation-marker")],
    );
    assert!(!node.status.success(), "the node sees the pod's files");
    assert!(!std::path::Path::new(&marker).exists(), "the host sees {marker}");
    let two = kubectl(
        &lab,
        &[
            "exec",
            "two",
            "--",
            "sh",
            "-c",
            &format!("ls {marker} /etc/isolation-marker"),
        ],
    );
    assert!(!two.status.success(), "pod two sees pod one's files");

    // Environment: the pod's own, the kubernetes Service's, the manifest's;
    // not the secret of the shell that made the lab, not even in the pods'
    // PID 1s (which the pods themselves may not read: they hold more
    // capabilities than a container).
    let env = sh(&lab, "one", "env");
    let pid1 = lab.ssh_ok(
        "node-1",
        &[
            "sh",
            "-c",
            "for p in $(pidof labyrinth-pause); do tr '\\0' '\\n' < /proc/$p/environ; done",
        ],
    );
    assert!(
        !env.contains(LEAK) && !pid1.contains(LEAK),
        "the lab's environment leaked into the pods:\n{env}\n{pid1}"
    );
    for line in [
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "GREETING=hello",
        "HOSTNAME=one",
        "HOME=/root",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    nodes_own_files_are_not_in_pods(&lab);
    capabilities_are_a_container_runtimes(&lab);
    filesystem_and_system_calls_as_asked(&lab);
    devices_are_a_containers(&lab);
    kernel_is_shown_as_a_runtime_shows_it(&lab);
    sysctls_are_the_pods_own(&lab);

    // The pod's own name and /etc files.
    assert_eq!(sh(&lab, "one", "hostname").trim(), "one");
    let ip = pod_ip(&lab, "default", "one");
    let hosts = sh(&lab, "one", "cat /etc/hosts");
    assert!(hosts.lines().any(|l| l == format!("{ip}\tone")), "{hosts}");
    let resolv = sh(&lab, "one", "cat /etc/resolv.conf");
    assert!(resolv.contains("search default.svc.cluster.local"), "{resolv}");
    lab.down();
}

/// `readOnlyRootFilesystem` (the root's mounts read-only, the volumes
/// not), `seccompProfile: RuntimeDefault` (for the process and an exec in
/// it; a default pod is not filtered, so each refusal below is the
/// filter's), `fsGroup` (a supplementary group that owns the emptyDir) and
/// the token's owner: the pod's single user (kubelet's fsUser), readable
/// by the fsGroup, else 0644 as kubelet writes it.
fn filesystem_and_system_calls_as_asked(lab: &Lab) {
    // /root and /home themselves: touch sets a folder's times, which a
    // read-only mount refuses as it refuses a new file.
    for at in ["/x", "/etc/x", "/var/x", "/tmp/x", "/run/x", "/root", "/home"] {
        let out = kubectl(lab, &["exec", "readonly", "--", "touch", at]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("Read-only file system"),
            "readonly: touch {at}: {err}"
        );
    }
    sh(
        lab,
        "readonly",
        "echo x > /scratch/x && cat /scratch/x && echo x > /dev/null",
    );
    // The same root in a default pod is the container's own, writable.
    sh(lab, "two", "touch /x /etc/x /var/x /tmp/x /run/x /root /home");

    let seccomp = |pod: &str, pid: &str| {
        let status = kubectl_ok(lab, &["exec", pod, "--", "cat", &format!("/proc/{pid}/status")]);
        status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let sleep = sh(lab, "restricted", "pidof sleep");
    assert_eq!(seccomp("restricted", "self"), "2");
    assert_eq!(seccomp("restricted", sleep.trim()), "2");
    assert_eq!(seccomp("one", "self"), "0");
    for (pod, allowed) in [("one", true), ("restricted", false)] {
        let userns = kubectl(lab, &["exec", pod, "--", "unshare", "--user", "true"]);
        assert_eq!(
            userns.status.success(),
            allowed,
            "{pod}: unshare --user: {}",
            String::from_utf8_lossy(&userns.stderr)
        );
        let key = kubectl_ok(lab, &["exec", pod, "--", "python3", "-c", ADD_KEY]);
        let (serial, errno) = key.trim().split_once(' ').unwrap();
        if allowed {
            assert!(serial.parse::<i64>().unwrap() > 0, "{pod}: add_key: {key}");
        } else {
            assert_eq!((serial, errno), ("-1", "1"), "{pod}: add_key: {key}");
        }
    }

    // fsGroup: in the process's groups, owning the emptyDir (setgid, so a
    // file made there is the group's too) and the token, which belongs to
    // the pod's user.
    let groups = sh(lab, "restricted", "id -G");
    assert!(groups.split_whitespace().any(|g| g == "2000"), "{groups}");
    let made = sh(
        lab,
        "restricted",
        &format!("touch /scratch/mine && stat -c '%g %a' /scratch && stat -c '%u %g' /scratch/mine && stat -L -c '%u %g %a' {TOKEN} && wc -c < {TOKEN}"),
    );
    let lines: Vec<&str> = made.lines().collect();
    assert_eq!(lines[..3], ["2000 2777", "4343 2000", "4343 2000 640"], "{made}");
    assert!(lines[3].trim().parse::<usize>().unwrap() > 100, "{made}");
    // One user and no fsGroup: the token is that user's alone.
    let user = sh(
        lab,
        "user",
        &format!("stat -L -c '%u %a' {TOKEN} && wc -c < {TOKEN}"),
    );
    assert!(user.starts_with("4242 600\n"), "{user}");
    // Nobody named: kubelet's 0644, root's.
    assert_eq!(
        sh(lab, "one", &format!("stat -L -c '%u %a' {TOKEN}")).trim(),
        "0 644"
    );
}

/// A container's /dev is its own, as runc makes it: the standard devices
/// only (not the node's disks, /dev/kmsg or terminals), a devpts of its own,
/// the pod's /dev/shm; no device node it makes opens (its root is nodev,
/// its /dev read-only). A privileged container has the node's devices.
fn devices_are_a_containers(lab: &Lab) {
    let listed = sh(lab, "one", "ls -A /dev");
    let names: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(
        names,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero"
        ],
        "{listed}"
    );
    assert_eq!(sh(lab, "one", "ls -A /dev/pts").trim(), "ptmx");
    assert_eq!(
        sh(lab, "one", "echo x > /dev/null && head -c 8 /dev/urandom | wc -c").trim(),
        "8"
    );
    for (what, cmd) in [
        (
            "open a device it made in its root",
            "mknod /null2 c 1 3 && echo x > /null2",
        ),
        ("add a device to /dev", "mknod /dev/null2 c 1 3"),
    ] {
        let out = kubectl(lab, &["exec", "one", "--", "sh", "-c", cmd]);
        assert!(!out.status.success(), "a default container can {what} ({cmd})");
    }
    // /dev/shm: the pod's, not the node's nor another pod's.
    let mark = format!("/dev/shm/isolation-{}", std::process::id());
    sh(lab, "one", &format!("echo x > {mark}"));
    let elsewhere = kubectl(lab, &["exec", "two", "--", "test", "-e", &mark]);
    assert!(!elsewhere.status.success(), "pod two sees pod one's {mark}");
    let node = lab.ssh("node-1", &["test", "-e", &mark]);
    assert!(!node.status.success(), "node-1 sees pod one's {mark}");
    // The node's devices, for a privileged container.
    lab.ssh_ok("node-2", &["test", "-e", "/dev/kmsg"]);
    sh(lab, "privileged", "test -e /dev/kmsg");
    let kmsg = kubectl(lab, &["exec", "one", "--", "test", "-e", "/dev/kmsg"]);
    assert!(!kmsg.status.success(), "a default container has /dev/kmsg");
}

/// The kernel as a container runtime shows it (procMount Default): the
/// machine's settings under /proc/sys read-only, the host's timers and
/// keys and its firmware's tables empty; a privileged container sees all
/// of it, writable. Each write puts back the value already there, so a
/// failure of this test changes nothing on the machine.
fn kernel_is_shown_as_a_runtime_shows_it(lab: &Lab) {
    // kernel.panic is the machine's own: no namespace holds it.
    let write_back = "v=$(cat /proc/sys/kernel/panic) && echo $v > /proc/sys/kernel/panic";
    let out = kubectl(lab, &["exec", "one", "--", "sh", "-c", write_back]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Read-only file system"),
        "a default container can set the machine's kernel.panic: {err}"
    );
    sh(lab, "privileged", write_back);
    // Reading stays allowed, the pod's own network settings too.
    let forward = sh(
        lab,
        "one",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/panic",
    );
    assert_eq!(forward.lines().count(), 2, "{forward}");
    let size = |out: String| {
        out.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("not a size: {out}"))
    };
    for path in ["/proc/timer_list", "/proc/keys"] {
        let count = format!("wc -c < {path}");
        let node = size(lab.ssh_ok("node-2", &["sh", "-c", &count]));
        assert!(
            node > 0,
            "node-2 has an empty {path}: the check below would prove nothing"
        );
        assert_eq!(
            size(sh(lab, "one", &count)),
            0,
            "a default container reads {path}"
        );
        assert!(
            size(sh(lab, "privileged", &count)) > 0,
            "a privileged container's {path} is empty"
        );
    }
    let firmware = "ls -A /sys/firmware | wc -l";
    assert!(
        size(lab.ssh_ok("node-2", &["sh", "-c", firmware])) > 0,
        "node-2 has no /sys/firmware"
    );
    assert_eq!(
        size(sh(lab, "one", firmware)),
        0,
        "a default container lists /sys/firmware"
    );
    assert!(
        size(sh(lab, "privileged", firmware)) > 0,
        "a privileged container's /sys/firmware is empty"
    );
}

/// `securityContext.sysctls`: set in the pod's own namespaces before its
/// containers start (the node keeps its own value), so a non-root
/// process may listen on port 80 once the pod lowers
/// ip_unprivileged_port_start; an unsafe one runs where the node allows
/// it (this lab's, made with `--allowed-unsafe-sysctls
/// net.core.somaxconn`) and fails the pod as the kubelet fails it
/// otherwise; one of the node's network is
/// refused for a hostNetwork pod by the API server. (And a pod asking for
/// a user namespace of its own waits, saying why: none is made here.)
fn sysctls_are_the_pods_own(lab: &Lab) {
    let range = "cat /proc/sys/net/ipv4/ip_local_port_range";
    assert_eq!(
        sh(lab, "tuned", range).split_whitespace().collect::<Vec<_>>(),
        ["20000", "20100"]
    );
    let node = lab.ssh_ok("node-1", &["sh", "-c", range]);
    assert_ne!(
        node.split_whitespace().collect::<Vec<_>>(),
        ["20000", "20100"],
        "node-1: {node}"
    );
    assert_eq!(sh(lab, "tuned", "id -u").trim(), "4242");
    let listening = sh(lab, "tuned", "nc -l -p 80 & sleep 1; netstat -ltn; kill $!");
    assert!(
        listening.contains(":80 "),
        "user 4242 cannot listen on 80: {listening}"
    );
    // Unsafe, and allowed on this lab's nodes (`lab up --allowed-unsafe-sysctls`).
    assert_eq!(
        sh(lab, "somaxconn", "cat /proc/sys/net/core/somaxconn").trim(),
        "1024"
    );
    kubectl_ok(
        lab,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Failed",
            "pod/mtuprobing",
            "--timeout=60s",
        ],
    );
    let status = kubectl_ok(
        lab,
        &[
            "get",
            "pod",
            "mtuprobing",
            "-o",
            "jsonpath={.status.reason}: {.status.message}",
        ],
    );
    assert_eq!(
        status,
        "SysctlForbidden: Pod forbidden sysctl: \"net.ipv4.tcp_mtu_probing\" not allowlisted"
    );
    // hostUsers: false is not run in the node's user namespace instead.
    let why = eventually("userns says why it waits", 300, || {
        let m = kubectl_ok(
            lab,
            &[
                "get",
                "pod",
                "userns",
                "-o",
                "jsonpath={.status.phase}: {.status.message}",
            ],
        );
        m.contains("hostUsers").then_some(m)
    });
    assert!(
        why.starts_with("Pending: hostUsers: false asks for a user namespace"),
        "{why}"
    );
    let host = "apiVersion: v1\nkind: Pod\nmetadata: {name: hostsysctl}\nspec:\n  hostNetwork: true\n  \
                securityContext: {sysctls: [{name: net.ipv4.tcp_syncookies, value: \"1\"}]}\n  \
                containers: [{name: box, image: busybox, command: [sleep, 365d]}]\n";
    let out = labyrinth_with_stdin(
        &["kubectl", "--name", &lab.name, "apply", "-f", "-"],
        host.as_bytes(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("spec.securityContext.sysctls[0].name: Invalid value: \"net.ipv4.tcp_syncookies\": may not be specified when 'hostNetwork' is true"),
        "{err}"
    );
}

/// What a node keeps for itself, which the node has (checked first, so the
/// pod side cannot pass by there being nothing to see) and no pod's root
/// shows: a worker's kubelet credential and the other pods' folders (their
/// tokens) and logs; a control node's admin kubeconfig (also in root's
/// home there), the API server's data and keys. A pod's /root and /home
/// start empty, as in an image (the node's are the host's); so do the
/// node's top-level folders an image would not have, and the host's
/// secrets under /etc are empty files.
fn nodes_own_files_are_not_in_pods(lab: &Lab) {
    let worker = [
        "/etc/labyrinth/kubelet.kubeconfig",
        "/var/lib/labyrinth/pods",
        "/var/lib/labyrinth/pki/kubelet.key",
        "/var/log/pods",
    ];
    let control = [
        "/etc/kubernetes/admin.conf",
        "/root/.kube/config",
        "/var/lib/labyrinth/apiserver",
    ];
    for (node, pod, paths) in [("node-1", "one", &worker[..]), ("node-0", "zero", &control[..])] {
        for path in paths {
            let has = lab.ssh(
                node,
                &[
                    "sh",
                    "-c",
                    &format!("if [ -d {path} ]; then test -n \"$(ls -A {path})\"; else test -s {path}; fi"),
                ],
            );
            assert!(has.status.success(), "{node} has no {path} to hide");
            let seen = kubectl(
                lab,
                &[
                    "exec",
                    pod,
                    "--",
                    "sh",
                    "-c",
                    &format!("ls -A {path} 2>/dev/null"),
                ],
            );
            let listed = String::from_utf8_lossy(&seen.stdout);
            assert!(
                listed.trim().is_empty(),
                "pod {pod} sees {node}'s {path}: {listed}"
            );
        }
        for dir in ["/root", "/home"] {
            let listed = sh(lab, pod, &format!("ls -A {dir} 2>/dev/null || true"));
            assert_eq!(listed.trim(), "", "pod {pod}'s {dir} is not empty");
        }
    }
    // The container's own /root is still its home, and writable.
    assert_eq!(sh(lab, "one", "echo x > /root/mine && ls /root").trim(), "mine");

    // The host's password hashes (the node's /etc is the host's,
    // copy-on-write): there on the node, an empty file in a pod.
    lab.ssh_ok("node-1", &["test", "-s", "/etc/shadow"]);
    assert_eq!(sh(lab, "one", "wc -c < /etc/shadow").trim(), "0");
    // The checkout this test runs from, and every top-level folder of the
    // node an image would not have (the host's /boot, /srv, work areas):
    // empty in a pod.
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    lab.ssh_ok("node-1", &["test", "-s", manifest]);
    let seen = kubectl(lab, &["exec", "one", "--", "test", "-e", manifest]);
    assert!(!seen.status.success(), "pod one sees {manifest}");
    let kept = [
        "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "var", "opt", "dev", "proc", "sys",
        "run", "tmp", "root", "home",
    ];
    let top = lab.ssh_ok(
        "node-1",
        &["find", "/", "-mindepth", "1", "-maxdepth", "1", "-type", "d"],
    );
    let others: Vec<&str> = top
        .lines()
        .filter(|d| !kept.contains(&d.trim_start_matches('/')))
        .collect();
    assert!(!others.is_empty(), "the node has only an image's folders: {top}");
    // The one file left in them: the lab's own program, which the DNS and
    // agnhost containers run (read-only, wherever it was built).
    let program = lab.ssh_ok("node-1", &["readlink", "/opt/labyrinth/bin/labyrinth"]);
    let program = program.trim();
    for dir in others {
        let files = sh(lab, "one", &format!("find {dir} ! -type d"));
        let expected = if program.starts_with(&format!("{dir}/")) {
            program
        } else {
            ""
        };
        assert_eq!(files.trim(), expected, "pod one sees the node's {dir}");
    }
    let write = kubectl(
        lab,
        &["exec", "one", "--", "sh", "-c", &format!("echo x >> {program}")],
    );
    assert!(!write.status.success(), "pod one can write the lab's program");
}

/// The `Cap*` and `NoNewPrivs` lines of process `pid`'s status, as pod
/// `pod` reads them, by name.
fn caps_of(lab: &Lab, pod: &str, ns: &str, pid: &str) -> std::collections::BTreeMap<String, String> {
    let status = kubectl_ok(
        lab,
        &["-n", ns, "exec", pod, "--", "cat", &format!("/proc/{pid}/status")],
    );
    status
        .lines()
        .filter(|l| l.starts_with("Cap") || l.starts_with("NoNewPrivs"))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// A default container (its process and an exec in it) holds containerd's
/// default set, and so can neither mount, unmount, change its network nor
/// open its PID 1's root (the node's filesystem); `capabilities` add and
/// drop, `privileged` keeps them all; an unknown name is the container's
/// error, naming the field; the cluster DNS runs as CoreDNS's manifest
/// asks (NET_BIND_SERVICE only, no privilege escalation).
fn capabilities_are_a_container_runtimes(lab: &Lab) {
    let sleep = sh(lab, "one", "pidof sleep");
    for pid in ["self", sleep.trim()] {
        let caps = caps_of(lab, "one", "default", pid);
        for set in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(caps[set], DEFAULT_CAPS, "pod one, process {pid}: {caps:?}");
        }
        assert_eq!(caps["CapInh"], "0000000000000000", "{caps:?}");
        assert_eq!(caps["CapAmb"], "0000000000000000", "{caps:?}");
        assert_eq!(caps["NoNewPrivs"], "0", "{caps:?}");
    }
    for (what, cmd) in [
        ("mount", "mount -t tmpfs none /mnt"),
        ("unmount what hides the node's state", "umount /etc/labyrinth"),
        ("add a link", "ip link add d0 type veth peer name d1"),
        ("open its PID 1's root", "ls /proc/1/root/etc/labyrinth"),
    ] {
        let out = kubectl(lab, &["exec", "one", "--", "sh", "-c", cmd]);
        assert!(!out.status.success(), "a default container can {what} ({cmd})");
    }
    // The ping a default container may send (NET_RAW), to its own address.
    let ip = pod_ip(lab, "default", "one");
    sh(lab, "one", &format!("ping -c 1 -W 5 {ip}"));

    // add NET_ADMIN, drop NET_RAW.
    let caps = caps_of(lab, "netadmin", "default", "self");
    let want = format!("{:016x}", (0xa80425fb_u64 | 1 << 12) & !(1 << 13));
    assert_eq!(caps["CapEff"], want, "{caps:?}");
    sh(
        lab,
        "netadmin",
        "ip link add d0 type veth peer name d1 && ip link del d0",
    );
    let ping = kubectl(
        lab,
        &[
            "exec",
            "netadmin",
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            "127.0.0.1",
        ],
    );
    assert!(!ping.status.success(), "ping without NET_RAW");

    // privileged: all of them, as the node has them.
    let node = lab.ssh_ok("node-2", &["grep", "CapBnd", "/proc/self/status"]);
    let caps = caps_of(lab, "privileged", "default", "self");
    assert_eq!(
        node.split_whitespace().nth(1),
        Some(caps["CapBnd"].as_str()),
        "{caps:?}"
    );
    sh(lab, "privileged", "mount -t tmpfs none /mnt && umount /mnt");

    // An unknown capability, or root under runAsNonRoot: the container
    // does not start, and says why.
    for (pod, want) in [
        (
            "badcap",
            r#"securityContext.capabilities.add[0]: unknown capability "WARP_DRIVE""#,
        ),
        ("nonroot", "container has runAsNonRoot and image will run as root"),
    ] {
        kubectl_ok(
            lab,
            &[
                "wait",
                "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CreateContainerConfigError",
                &format!("pod/{pod}"),
                "--timeout=60s",
            ],
        );
        let why = kubectl_ok(
            lab,
            &[
                "get",
                "pod",
                pod,
                "-o",
                "jsonpath={.status.containerStatuses[0].state.waiting.message}",
            ],
        );
        assert!(why.contains(want), "{pod}: {why}");
    }

    // The pod's user, group and supplementary groups, for its process and
    // an exec in it; not root, so no capability in effect (the bounding
    // set stays the default, as containerd leaves it).
    let sleep = sh(lab, "user", "pidof sleep");
    for pid in ["self", sleep.trim()] {
        let status = kubectl_ok(
            lab,
            &["exec", "user", "--", "cat", &format!("/proc/{pid}/status")],
        );
        let line = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert_eq!(line("Uid:"), "4242 4242 4242 4242", "process {pid}:\n{status}");
        assert_eq!(line("Gid:"), "3000 3000 3000 3000", "process {pid}:\n{status}");
        assert_eq!(line("Groups:"), "4000", "process {pid}:\n{status}");
        assert_eq!(line("CapEff:"), "0000000000000000", "process {pid}:\n{status}");
        assert_eq!(line("CapBnd:"), DEFAULT_CAPS, "process {pid}:\n{status}");
    }
    // HOME: the user's entry in the node's /etc/passwd, else /.
    let listed = lab.ssh_ok(
        "node-2",
        &["awk", "-F:", "$3 == 4242 { print $6 }", "/etc/passwd"],
    );
    let home = format!(
        "HOME={}",
        Some(listed.trim()).filter(|h| !h.is_empty()).unwrap_or("/")
    );
    let env = sh(lab, "user", "env");
    assert!(env.lines().any(|l| l == home), "{home}:\n{env}");
    let root = kubectl(lab, &["exec", "user", "--", "sh", "-c", "echo x > /mine"]);
    assert!(!root.status.success(), "user 4242 wrote to the root-owned /");
    sh(lab, "user", "echo x > /tmp/mine && cat /tmp/mine");

    // kubectl's debugging profiles reach the runtime (kubectl sends the
    // node debugging pod as protobuf): netadmin adds NET_ADMIN and
    // NET_RAW to the default set, sysadmin is privileged.
    assert_eq!(
        debug_node_caps(lab, "netadmin"),
        format!("{:016x}", 0xa80425fb_u64 | 1 << 12)
    );
    assert_eq!(
        debug_node_caps(lab, "sysadmin"),
        node.split_whitespace().nth(1).unwrap()
    );

    // The cluster DNS: NET_BIND_SERVICE (bit 10) alone, no escalation;
    // an exec in it gets the same.
    let caps = caps_of(lab, "deploy/coredns", "kube-system", "self");
    assert_eq!(caps["CapEff"], "0000000000000400", "{caps:?}");
    assert_eq!(caps["NoNewPrivs"], "1", "{caps:?}");
    // It reads the API as its ServiceAccount, which may list and watch
    // what a DNS server serves and nothing else; no node credential is
    // in its root, only its own token.
    let files = kubectl_ok(
        lab,
        &[
            "-n",
            "kube-system",
            "exec",
            "deploy/coredns",
            "--",
            "sh",
            "-c",
            "ls -A /etc/labyrinth; ls /var/run/secrets/kubernetes.io/serviceaccount",
        ],
    );
    assert_eq!(
        files.split_whitespace().collect::<Vec<_>>(),
        ["ca.crt", "namespace", "token"]
    );
    let sa = "--as=system:serviceaccount:kube-system:coredns";
    for (verb, what, want) in [
        ("watch", "pods", "yes"),
        ("list", "endpointslices.discovery.k8s.io", "yes"),
        ("get", "secrets", "no"),
        ("create", "pods", "no"),
    ] {
        let out = kubectl(lab, &["auth", "can-i", verb, what, "--all-namespaces", sa]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(said.trim(), want, "coredns can-i {verb} {what}");
    }
}

/// The bounding set of a `kubectl debug node/node-2 --profile=PROFILE`
/// pod's process, from its log; the pod is deleted after.
fn debug_node_caps(lab: &Lab, profile: &str) -> String {
    let before = kubectl_ok(lab, &["get", "pods", "-o", "name"]);
    kubectl_ok(
        lab,
        &[
            "debug",
            "node/node-2",
            "--image=busybox",
            &format!("--profile={profile}"),
            "--",
            "grep",
            "CapBnd",
            "/proc/self/status",
        ],
    );
    let after = kubectl_ok(lab, &["get", "pods", "-o", "name"]);
    let pod = after
        .lines()
        .find(|l| l.starts_with("pod/node-debugger-node-2-") && !before.lines().any(|b| b == *l))
        .expect("the debugging pod")
        .to_string();
    kubectl_ok(
        lab,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            &pod,
            "--timeout=90s",
        ],
    );
    let log = kubectl_ok(lab, &["logs", &pod]);
    kubectl_ok(lab, &["delete", &pod, "--wait=false"]);
    log.split_whitespace().nth(1).unwrap_or_default().to_string()
}
