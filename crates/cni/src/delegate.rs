//! The plugin inside the node agent: the agent listens on a unix socket, and
//! the node's /opt/cni/bin/labyrinth-cni is a small static program (see
//! native/cni-shim.c) that hands each call over and prints the answer.
//! Runtimes still exec a plugin with CNI_* and stdin, as the spec says; the
//! exec is all the program does.
//!
//! Each call runs on a thread of its own, through the same dispatcher as
//! the executable, with the caller's environment as sent.

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::commands::LabyrinthPlugin;
use crate::spec;

/// Where the agent listens (a node's /run is its own).
pub const SOCKET: &str = "/run/labyrinth/cni.sock";

/// The program to install as /opt/cni/bin/labyrinth-cni.
pub static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/labyrinth-cni-shim"));

const REQUEST: &[u8; 4] = b"LCN1";
const RESPONSE: &[u8; 4] = b"LCR1";
/// Bounds on what a caller may send: a runtime's environment and a config.
const MAX_ENV: usize = 4096;
const MAX_FIELD: usize = 1 << 20;

/// One call as the shim sends it.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
}

impl Call {
    pub fn get(&self, key: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

fn u32_le(r: &mut impl Read) -> io::Result<usize> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b) as usize)
}

fn field(r: &mut impl Read, what: &str) -> io::Result<Vec<u8>> {
    let n = u32_le(r)?;
    if n > MAX_FIELD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} of {n} bytes (at most {MAX_FIELD})"),
        ));
    }
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

pub fn read_call(r: &mut impl Read) -> io::Result<Call> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != REQUEST {
        return Err(bad(format!("not a labyrinth-cni call (starts {magic:?})")));
    }
    let count = u32_le(r)?;
    if count > MAX_ENV {
        return Err(bad(format!("{count} environment variables (at most {MAX_ENV})")));
    }
    let mut env = Vec::with_capacity(count);
    for _ in 0..count {
        let kv = field(r, "an environment variable")?;
        // Not UTF-8, or no '=': nothing a CNI variable can be; skip it.
        if let Some((k, v)) = std::str::from_utf8(&kv).ok().and_then(|s| s.split_once('=')) {
            env.push((k.to_string(), v.to_string()));
        }
    }
    let stdin = field(r, "the network config")?;
    Ok(Call { env, stdin })
}

pub fn write_call(w: &mut impl Write, call: &Call) -> io::Result<()> {
    let mut buf = REQUEST.to_vec();
    buf.extend_from_slice(&(call.env.len() as u32).to_le_bytes());
    for (k, v) in &call.env {
        let kv = format!("{k}={v}");
        buf.extend_from_slice(&(kv.len() as u32).to_le_bytes());
        buf.extend_from_slice(kv.as_bytes());
    }
    buf.extend_from_slice(&(call.stdin.len() as u32).to_le_bytes());
    buf.extend_from_slice(&call.stdin);
    w.write_all(&buf)
}

/// What the plugin executable would have printed and returned.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

pub fn write_answer(w: &mut impl Write, a: &Answer) -> io::Result<()> {
    let mut buf = RESPONSE.to_vec();
    buf.extend_from_slice(&a.status.to_le_bytes());
    for part in [&a.stdout, &a.stderr] {
        buf.extend_from_slice(&(part.len() as u32).to_le_bytes());
        buf.extend_from_slice(part);
    }
    w.write_all(&buf)
}

pub fn read_answer(r: &mut impl Read) -> io::Result<Answer> {
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != RESPONSE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a labyrinth-cni answer",
        ));
    }
    let status = u32_le(r)? as i32;
    let stdout = field(r, "stdout")?;
    let stderr = field(r, "stderr")?;
    Ok(Answer {
        status,
        stdout,
        stderr,
    })
}

/// Run one call through the plugin, as the executable would.
pub fn answer(plugin: &LabyrinthPlugin, call: &Call) -> Answer {
    let out = spec::dispatch(plugin, |k| call.get(k), Ok(call.stdin.clone()));
    let line = |s: String| {
        if s.is_empty() {
            Vec::new()
        } else {
            format!("{s}\n").into_bytes()
        }
    };
    Answer {
        status: out.exit_code,
        stdout: line(out.stdout),
        stderr: line(out.stderr),
    }
}

/// Listen at `path` (replacing a stale socket; the directory is made
/// root-only) and serve calls on threads until the process ends. Only
/// callers with our own uid are served. Calls run in the network namespace
/// of the thread that called this (threads inherit it). A second call is a
/// no-op.
pub fn serve(path: &Path) -> io::Result<()> {
    serve_with(path, None)
}

/// What the network agent does around the calls it serves (the eBPF
/// datapath attaches its program to a new pod's veth after ADD and takes
/// it off before DEL, as Cilium's agent makes an endpoint at CNI ADD).
pub trait Around: Send + Sync {
    /// Before the plugin runs a DEL.
    fn before_del(&self, call: &Call);
    /// After a successful ADD, with what it printed (the CNI result); an
    /// error fails the call, naming why (the runtime then removes the pod's
    /// network again).
    fn after_add(&self, call: &Call, result: &[u8]) -> Result<(), String>;
}

/// `serve`, with `around` run for every ADD and DEL.
pub fn serve_with(path: &Path, around: Option<std::sync::Arc<dyn Around>>) -> io::Result<()> {
    static SERVING: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut serving = SERVING.lock().unwrap_or_else(|e| e.into_inner());
    if *serving {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("cni-delegate".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let around = around.clone();
                let spawned = std::thread::Builder::new()
                    .name("cni-call".into())
                    .spawn(move || serve_one_with(conn, around.as_deref()));
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "no thread for a CNI call; its caller gets an error");
                }
            }
        })?;
    *serving = true;
    Ok(())
}

/// Serve one connection: check the caller, read its call, run it in this
/// thread's network namespace, answer.
pub fn serve_one(conn: UnixStream) {
    serve_one_with(conn, None)
}

fn serve_one_with(mut conn: UnixStream, around: Option<&dyn Around>) {
    let me = nix::unistd::geteuid().as_raw();
    let caller = match nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials) {
        Ok(c) if c.uid() == me => c.pid(),
        Ok(c) => {
            tracing::warn!(uid = c.uid(), "refused a CNI call from another user");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused a CNI call: no peer credentials");
            return;
        }
    };
    let mut call = match read_call(&mut conn) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "bad CNI call on the delegate socket");
            return;
        }
    };
    callers_netns(&mut call, caller);
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let command = call.get("CNI_COMMAND");
    if let (Some(around), Some("DEL")) = (around, command.as_deref()) {
        around.before_del(&call);
    }
    let mut a = answer(&LabyrinthPlugin::IN_PROCESS, &call);
    if let (Some(around), Some("ADD"), 0) = (around, command.as_deref(), a.status) {
        if let Err(e) = around.after_add(&call, &a.stdout) {
            a = failed(&call, &e);
        }
    }
    if let Err(e) = write_answer(&mut conn, &a) {
        tracing::warn!(error = %e, "the CNI caller left before its answer");
    }
    drop(a);
    drop(call);
    // A call's buffers (two netlink sockets' 64 KiB each, the configs) are
    // freed into the agent's heap, where glibc keeps the pages; the agent
    // is meant to stay a few KiB per pod. When the last call in flight is
    // done, hand the free pages back.
    if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
        // SAFETY: no preconditions; it only walks malloc's own lists.
        unsafe { libc::malloc_trim(0) };
    }
}

/// CNI_NETNS is a path in the caller's mount namespace (the runtime's
/// /run/netns/…). An agent in a pod of its own sees other mounts: with the
/// host's pids (the DaemonSet's hostPID) the caller's view is
/// /proc/<pid>/root, held open by the caller for the whole call.
fn callers_netns(call: &mut Call, caller: i32) {
    if caller <= 0 {
        return;
    }
    let mnt = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let theirs = mnt(&caller.to_string());
    if theirs.is_none() || theirs == mnt("self") {
        return;
    }
    for (k, v) in call.env.iter_mut() {
        if k == "CNI_NETNS" && v.starts_with('/') {
            *v = format!("/proc/{caller}/root{v}");
        }
    }
}

/// The spec's error answer for a call `around` refused.
fn failed(call: &Call, msg: &str) -> Answer {
    let version = serde_json::from_slice::<serde_json::Value>(&call.stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(String::from))
        .unwrap_or_else(|| "1.0.0".into());
    let err = serde_json::json!({"cniVersion": version, "code": 999, "msg": msg});
    Answer {
        status: 1,
        stdout: format!("{err}\n").into_bytes(),
        stderr: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_answers_round_trip() {
        let call = Call {
            env: vec![
                ("CNI_COMMAND".into(), "ADD".into()),
                ("EMPTY".into(), String::new()),
            ],
            stdin: br#"{"cniVersion":"1.1.0"}"#.to_vec(),
        };
        let mut buf = Vec::new();
        write_call(&mut buf, &call).unwrap();
        assert_eq!(read_call(&mut &buf[..]).unwrap(), call);
        let a = Answer {
            status: 7,
            stdout: b"{}\n".to_vec(),
            stderr: Vec::new(),
        };
        let mut buf = Vec::new();
        write_answer(&mut buf, &a).unwrap();
        assert_eq!(read_answer(&mut &buf[..]).unwrap(), a);
    }

    #[test]
    fn bad_calls_are_refused_with_the_reason() {
        let e = read_call(&mut &b"HTTP/1.1"[..]).unwrap_err();
        assert!(e.to_string().contains("not a labyrinth-cni call"), "{e}");
        let mut big = b"LCN1".to_vec();
        big.extend_from_slice(&(1u32 << 30).to_le_bytes());
        let e = read_call(&mut &big[..]).unwrap_err();
        assert!(e.to_string().contains("environment variables"), "{e}");
        let mut huge = b"LCN1".to_vec();
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&(u32::MAX).to_le_bytes());
        let e = read_call(&mut &huge[..]).unwrap_err();
        assert!(e.to_string().contains("network config of"), "{e}");
        // Cut short.
        let e = read_call(&mut &b"LCN1\x01\x00"[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_answer_is_what_the_executable_prints() {
        let call = Call {
            env: vec![("CNI_COMMAND".into(), "VERSION".into())],
            stdin: br#"{"cniVersion":"1.0.0"}"#.to_vec(),
        };
        let a = answer(&LabyrinthPlugin::IN_PROCESS, &call);
        assert_eq!(a.status, 0);
        let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert!(a.stdout.ends_with(b"\n"));
        // No command: the spec's error, on stdout, status 1... as exec'd.
        let a = answer(
            &LabyrinthPlugin::IN_PROCESS,
            &Call {
                env: vec![],
                stdin: vec![],
            },
        );
        assert_ne!(a.status, 0);
        let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        assert!(v["code"].as_u64().is_some(), "{v}");
    }

    #[test]
    fn the_shim_is_a_static_program_without_an_interpreter() {
        assert_eq!(&SHIM[..4], b"\x7fELF");
        assert!(!SHIM.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"));
    }
}
