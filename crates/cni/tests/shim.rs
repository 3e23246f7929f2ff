//! The installed program (native/cni-shim.c) on its own: without an agent
//! it runs the whole plugin with the call untouched; with a broken one it
//! answers the spec's error instead of hanging or guessing. (Calls through
//! a working agent: the `delegated` conformance suite.)

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// Run the shim with `env` and `stdin`; (status, stdout, stderr).
fn shim(env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    let p = PluginUnderTest::delegated();
    let mut child = Command::new(&p.bin)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A shim that fails early does not read it all (EPIPE here): fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FULL: &str = env!("CARGO_BIN_EXE_labyrinth-cni");

#[test]
fn without_an_agent_the_whole_plugin_runs_the_call() {
    let dir = TempDir::new("shim-fb");
    let missing = dir.path().join("no.sock");
    // A socket file nobody listens on (an agent that died): refused, too.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    for socket in [&missing, &stale] {
        let (code, out, err) = shim(
            &[
                ("CNI_COMMAND", "VERSION"),
                ("LABYRINTH_CNI_SOCKET", socket.to_str().unwrap()),
                ("LABYRINTH_CNI_PLUGIN", FULL),
            ],
            r#"{"cniVersion":"1.0.0"}"#,
        );
        assert_eq!(code, 0, "{out} {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0", "the stdin reached the plugin");
        assert!(v["supportedVersions"].as_array().unwrap().len() >= 5, "{v}");
    }
    // The plugin's own errors, code and status, come through unchanged.
    let (code, out, _) = shim(
        &[
            ("CNI_COMMAND", "BOGUS"),
            ("LABYRINTH_CNI_SOCKET", missing.to_str().unwrap()),
            ("LABYRINTH_CNI_PLUGIN", FULL),
        ],
        r#"{"cniVersion":"1.0.0"}"#,
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, v["code"].as_u64()), (1, Some(4)), "{v}");
}

#[test]
fn no_agent_and_no_plugin_is_an_error_result() {
    let (code, out, _) = shim(
        &[
            ("CNI_COMMAND", "VERSION"),
            ("LABYRINTH_CNI_SOCKET", "/nonexistent/cni.sock"),
            ("LABYRINTH_CNI_PLUGIN", "/nonexistent/labyrinth"),
        ],
        "{}",
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["code"], 999);
    assert!(v["msg"].as_str().unwrap().contains("could not be run"), "{v}");
    assert_eq!(v["details"], "errno 2", "ENOENT");
}

#[test]
fn an_agent_that_hangs_up_gets_an_error_result_not_a_retry() {
    let dir = TempDir::new("shim-hup");
    let path = dir.path().join("cni.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // Read the call (so the shim's write completes), answer nothing.
        let mut magic = [0u8; 4];
        conn.read_exact(&mut magic).unwrap();
        magic
    });
    let (code, out, _) = shim(
        &[
            ("CNI_COMMAND", "VERSION"),
            ("LABYRINTH_CNI_SOCKET", path.to_str().unwrap()),
            // Were it retried there, the call would succeed.
            ("LABYRINTH_CNI_PLUGIN", FULL),
        ],
        r#"{"cniVersion":"1.0.0"}"#,
    );
    assert_eq!(&server.join().unwrap(), b"LCN1");
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["code"], 999);
    // Closed with the call unread, the socket resets (ECONNRESET) rather
    // than ending: either way, no answer.
    assert!(v["msg"].as_str().unwrap().contains("answer"), "{v}");
}

#[test]
fn the_agent_gets_the_environment_and_stdin_as_sent() {
    let dir = TempDir::new("shim-env");
    let path = dir.path().join("cni.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let config = format!(r#"{{"cniVersion":"1.1.0","pad":"{}"}}"#, "x".repeat(200_000));
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let call = labyrinth_cni::delegate::read_call(&mut conn).unwrap();
        let answer = labyrinth_cni::delegate::Answer {
            status: 3,
            stdout: b"out\n".to_vec(),
            stderr: b"err\n".to_vec(),
        };
        labyrinth_cni::delegate::write_answer(&mut conn, &answer).unwrap();
        call
    });
    let (code, out, err) = shim(
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_ARGS", "K8S_POD_NAME=a=b;X=1"),
            ("LABYRINTH_CNI_SOCKET", path.to_str().unwrap()),
        ],
        &config,
    );
    let call = server.join().unwrap();
    assert_eq!(call.get("CNI_COMMAND").as_deref(), Some("ADD"));
    assert_eq!(call.get("CNI_ARGS").as_deref(), Some("K8S_POD_NAME=a=b;X=1"));
    assert_eq!(call.stdin, config.as_bytes(), "a large config arrives whole");
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
}
