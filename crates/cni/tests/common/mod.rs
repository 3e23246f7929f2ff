//! Shared test rig: holder-process namespaces ("node" and "pods"), temp
//! dirs, the plugin under test (ours or the reference ptp + host-local),
//! and the CNI calling convention (env + stdin, exec of the binary inside
//! the node namespace). Every guard cleans up on drop, also on panic.
#![allow(dead_code)]

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

/// True: the caller returns (skipped, and said so). Fails the test instead
/// where root is required (see `labyrinth_testkit::root`).
pub fn skip_unless_root(test: &str) -> bool {
    !labyrinth_testkit::root::require(test)
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique across this process and concurrent test processes.
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("labyrinth-cni-test-{}", unique(tag)));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process holding fresh namespaces (`labyrinth_testkit::netns`); its
/// /proc/<pid>/ns/net is the netns.
pub struct Holder {
    ns: labyrinth_testkit::netns::Netns,
}

impl Holder {
    /// A node: own network and mount namespace.
    pub fn node() -> Holder {
        Holder {
            ns: labyrinth_testkit::netns::Netns::unshared("node", &["--mount", "--propagation", "private"]),
        }
    }

    /// A pod sandbox: its own network namespace.
    pub fn pod() -> Holder {
        Holder {
            ns: labyrinth_testkit::netns::Netns::unshared("pod", &[]),
        }
    }

    pub fn pid(&self) -> u32 {
        self.ns.pid()
    }

    pub fn netns(&self) -> String {
        self.ns.path()
    }

    /// Run a command inside this namespace (nsenter --net), returning stdout;
    /// panics with stderr on failure.
    pub fn sh(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.netns()))
            .args(args)
            .output()
            .expect("running nsenter");
        assert!(
            out.status.success(),
            "{args:?} in {} failed: {}",
            self.netns(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like `sh` but returns success instead of panicking.
    pub fn try_sh(&self, args: &[&str]) -> bool {
        Command::new("nsenter")
            .arg(format!("--net={}", self.netns()))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// `ip -j <args>` inside this namespace, parsed.
    pub fn ip_j(&self, args: &[&str]) -> Value {
        let mut full = vec!["ip", "-j"];
        full.extend_from_slice(args);
        let out = self.sh(&full);
        if out.trim().is_empty() {
            return json!([]);
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
    }

    /// Names of all links in this namespace once no retired veth is left:
    /// our DEL leaves its pair renamed `lxd…` (down, no routes) for a
    /// detached child to delete; wait for that, bounded, then list.
    pub fn link_names(&self) -> Vec<String> {
        for _ in 0..200 {
            let names = self.link_names_now();
            if !names.iter().any(|n| n.starts_with("lxd")) {
                return names;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        self.link_names_now()
    }

    /// Names of all links in this namespace right now.
    pub fn link_names_now(&self) -> Vec<String> {
        self.ip_j(&["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn kill(&mut self) {
        self.ns.kill();
    }
}

/// The shim written out for this process (see `PluginUnderTest::delegated`).
static SHIM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Which plugin the harness drives, and how to configure it.
#[derive(Clone)]
pub struct PluginUnderTest {
    pub name: &'static str,
    pub bin: PathBuf,
    pub cni_path: String,
    pub kind: Kind,
    /// `bin` is our shim: each call is served by the plugin inside this
    /// process (as inside a node agent), on a thread in the node's netns.
    pub delegated: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// labyrinth-cni: held to every code the spec defines, and to ours.
    Ours,
    /// ptp + host-local from containernetworking-plugins: where it deviates
    /// from the spec's codes (documented per case), any error is accepted.
    Reference,
}

pub const TESTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
pub const MTU: u64 = 1410;

impl PluginUnderTest {
    pub fn ours() -> PluginUnderTest {
        PluginUnderTest {
            name: "labyrinth-cni",
            bin: PathBuf::from(env!("CARGO_BIN_EXE_labyrinth-cni")),
            cni_path: "/opt/cni/bin".into(),
            kind: Kind::Ours,
            delegated: false,
        }
    }

    /// Ours as a node runs it: /opt/cni/bin/labyrinth-cni is the shim, the
    /// plugin runs inside the agent (here: this test process).
    pub fn delegated() -> PluginUnderTest {
        // One file per test process, removed as the process exits.
        extern "C" fn remove_shim() {
            if let Some(p) = SHIM.get() {
                let _ = std::fs::remove_file(p);
            }
        }
        let bin = SHIM.get_or_init(|| {
            let p = std::env::temp_dir().join(format!("labyrinth-cni-shim-{}", std::process::id()));
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, labyrinth_cni::delegate::SHIM).unwrap();
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            std::fs::rename(&tmp, &p).unwrap();
            // SAFETY: registers a plain function; it only removes a file.
            unsafe { libc::atexit(remove_shim) };
            p
        });
        PluginUnderTest {
            name: "labyrinth-cni (delegated)",
            bin: bin.clone(),
            cni_path: "/opt/cni/bin".into(),
            kind: Kind::Ours,
            delegated: true,
        }
    }

    pub fn reference() -> PluginUnderTest {
        PluginUnderTest {
            name: "ptp+host-local",
            bin: PathBuf::from("/usr/lib/cni/ptp"),
            cni_path: "/usr/lib/cni".into(),
            kind: Kind::Reference,
            delegated: false,
        }
    }

    pub fn strict(&self) -> bool {
        self.kind == Kind::Ours
    }

    pub fn available(&self) -> bool {
        self.bin.exists()
    }

    /// The plugin config (as a runtime passes it on stdin) for one network.
    pub fn config(&self, version: &str, net: &Net) -> Value {
        match self.kind {
            Kind::Ours => json!({
                "cniVersion": version, "name": net.name, "type": "labyrinth-cni", "mtu": MTU,
                "gateway": net.gateway(), "podCIDR": net.subnet,
                "ipam": {"type": "host-local", "dataDir": net.data_dir.path()},
            }),
            Kind::Reference => json!({
                "cniVersion": version, "name": net.name, "type": "ptp", "mtu": MTU,
                "ipam": {"type": "host-local", "subnet": net.subnet, "dataDir": net.data_dir.path(),
                         "routes": [{"dst": "0.0.0.0/0"}]},
            }),
        }
    }

    /// What the node agent provides before pods arrive: for ours the
    /// gateway address on the node and forwarding (the agent's job); ptp
    /// puts the gateway on each host veth and enables forwarding itself.
    pub fn prepare_node(&self, node: &Holder, net: &Net) {
        if self.kind == Kind::Ours {
            node.sh(&["ip", "link", "set", "lo", "up"]);
            node.sh(&["ip", "addr", "add", &format!("{}/32", net.gateway()), "dev", "lo"]);
            node.sh(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
        }
    }

    /// The versions to exercise: what the plugin declares, within the spec
    /// versions we test.
    pub fn declared_versions(&self, node: &Holder) -> Vec<String> {
        let out = self.call(node, &Call::version(), "{\"cniVersion\":\"0.4.0\"}");
        assert_eq!(out.exit, 0, "{} VERSION failed: {}", self.name, out.stdout);
        let supported: Vec<String> = out.json["supportedVersions"]
            .as_array()
            .expect("supportedVersions")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        TESTED_VERSIONS
            .iter()
            .filter(|v| supported.iter().any(|s| s == *v))
            .map(|v| v.to_string())
            .collect()
    }

    /// Exec the plugin per the calling convention inside `node`'s netns.
    pub fn call(&self, node: &Holder, call: &Call, stdin: &str) -> Outcome {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", node.netns())).arg(&self.bin);
        let ns = std::fs::File::open(node.netns()).unwrap();
        self.exec_in(&ns, cmd, call, stdin)
    }

    /// Exec, serving the shim's call from this process when delegated.
    fn exec_in(&self, node_ns: &std::fs::File, mut cmd: Command, call: &Call, stdin: &str) -> Outcome {
        if !self.delegated {
            return self.exec(cmd, call, stdin);
        }
        let server = Delegate::start(node_ns);
        // No fallback plugin: a call that did not go through the socket fails.
        cmd.env("LABYRINTH_CNI_SOCKET", &server.path)
            .env("LABYRINTH_CNI_PLUGIN", "/nonexistent/labyrinth");
        let out = self.exec(cmd, call, stdin);
        server.finish();
        out
    }

    /// Same, but entering the namespace with setns() before exec instead of
    /// through nsenter: the benchmark's path, so only the plugin is timed.
    pub fn call_setns(&self, node_ns: &std::fs::File, call: &Call, stdin: &str) -> Outcome {
        let mut cmd = Command::new(&self.bin);
        let fd = node_ns.try_clone().unwrap();
        // SAFETY: setns is async-signal-safe; the closure only calls it.
        unsafe {
            cmd.pre_exec(move || {
                nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            });
        }
        self.exec_in(node_ns, cmd, call, stdin)
    }

    fn exec(&self, mut cmd: Command, call: &Call, stdin: &str) -> Outcome {
        // Keep only what exec_in set for the shim.
        let keep: Vec<(std::ffi::OsString, std::ffi::OsString)> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(keep);
        for (k, v) in &call.env {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        if !call.env.iter().any(|(k, _)| k == "CNI_PATH") {
            cmd.env("CNI_PATH", &self.cni_path);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning plugin");
        // A plugin that refuses its environment exits before reading its
        // config (the reference plugins do), so the pipe may already be
        // closed: that is an outcome to check, not a harness failure.
        match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.expect("writing the plugin's stdin"),
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        Outcome {
            exit: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            json,
        }
    }
}

/// One network: name, pod subnet and its own IPAM data dir.
pub struct Net {
    pub name: String,
    pub subnet: String,
    pub data_dir: TempDir,
}

impl Net {
    /// `third` picks 10.<third>.<..>.0/24 so parallel tests never share.
    pub fn new(tag: &str, subnet: &str) -> Net {
        Net {
            name: unique(tag),
            subnet: subnet.into(),
            data_dir: TempDir::new(tag),
        }
    }

    pub fn gateway(&self) -> String {
        let base = self.subnet.split('/').next().unwrap();
        let mut o: Vec<u8> = base.split('.').map(|x| x.parse().unwrap()).collect();
        o[3] += 1;
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.data_dir.path().join(&self.name)
    }

    /// (ip, file content) of every reservation file in the IPAM dir.
    pub fn reservations(&self) -> Vec<(String, String)> {
        let Ok(rd) = std::fs::read_dir(self.ipam_dir()) else {
            return Vec::new();
        };
        rd.filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            name.parse::<std::net::Ipv4Addr>().ok()?;
            Some((name, std::fs::read_to_string(e.path()).unwrap_or_default()))
        })
        .collect()
    }

    pub fn reserved_for(&self, container: &str) -> Vec<String> {
        self.reservations()
            .into_iter()
            .filter(|(_, c)| c.lines().next().map(str::trim) == Some(container))
            .map(|(ip, _)| ip)
            .collect()
    }
}

/// The CNI_* environment of one call; `None` leaves a variable unset.
#[derive(Clone, Debug)]
pub struct Call {
    pub env: Vec<(String, Option<String>)>,
}

impl Call {
    pub fn new(command: &str, container: &str, netns: Option<&str>, ifname: &str) -> Call {
        Call {
            env: vec![
                ("CNI_COMMAND".into(), Some(command.into())),
                ("CNI_CONTAINERID".into(), Some(container.into())),
                ("CNI_NETNS".into(), netns.map(String::from)),
                ("CNI_IFNAME".into(), Some(ifname.into())),
                (
                    "CNI_ARGS".into(),
                    Some(format!("IgnoreUnknown=1;K8S_POD_NAME={container}")),
                ),
            ],
        }
    }

    pub fn version() -> Call {
        Call {
            env: vec![("CNI_COMMAND".into(), Some("VERSION".into()))],
        }
    }

    /// STATUS and GC carry no attachment.
    pub fn bare(command: &str) -> Call {
        Call {
            env: vec![("CNI_COMMAND".into(), Some(command.into()))],
        }
    }

    pub fn set(mut self, key: &str, value: Option<&str>) -> Call {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.map(String::from)));
        self
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

impl Outcome {
    pub fn ok(&self, what: &str) -> &Value {
        assert_eq!(
            self.exit, 0,
            "{what} failed: stdout={} stderr={}",
            self.stdout, self.stderr
        );
        &self.json
    }

    /// The error code, asserting the call failed with an error result.
    pub fn err_code(&self, what: &str) -> u64 {
        assert_ne!(self.exit, 0, "{what} unexpectedly succeeded: {}", self.stdout);
        self.json["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no error JSON on stdout: {:?}", self.stdout))
    }

    pub fn text(&self) -> String {
        format!(
            "{} {}",
            self.json["msg"].as_str().unwrap_or(""),
            self.json["details"].as_str().unwrap_or("")
        )
    }
}

/// `config` with `prevResult` set (the runtime's cached ADD result).
pub fn with_prev(config: &Value, prev: &Value) -> Value {
    let mut c = config.clone();
    c["prevResult"] = prev.clone();
    c
}

/// The agent's side of one delegated call: a socket of its own, and a
/// thread in the node's network namespace that serves one connection.
struct Delegate {
    path: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Delegate {
    fn start(node_ns: &std::fs::File) -> Delegate {
        let path = std::env::temp_dir().join(format!("labyrinth-cni-{}.sock", unique("call")));
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let ns = node_ns.try_clone().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            if let Ok((conn, _)) = listener.accept() {
                // The wake-up from `finish` when the shim fell back instead.
                if !stopped.load(Ordering::SeqCst) {
                    labyrinth_cni::delegate::serve_one(conn);
                }
            }
        });
        Delegate {
            path,
            stop,
            thread: Some(thread),
        }
    }

    /// After the shim exited: no call will come any more.
    fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = std::os::unix::net::UnixStream::connect(&self.path);
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Delegate {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
