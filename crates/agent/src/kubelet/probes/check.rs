//! Running one probe as the kubelet does: `exec` in the container (its
//! root, namespaces and environment), `httpGet` and `tcpSocket` from the
//! node to the pod's IP (this agent runs in the node's network namespace,
//! as the kubelet runs in the host's). Each ends within its timeout and
//! never holds one of the agent's async threads: the exec waits on a
//! blocking thread, the network probes are async IO.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use labyrinth_contracts::probe::{PortRef, Probe};
use labyrinth_contracts::sandbox::SandboxRecord;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::container;

/// What to do for one probe, resolved from the spec (ports by name, the
/// pod's IP) before it runs.
#[derive(Debug)]
pub enum Check {
    Exec {
        pause: PathBuf,
        rec: Box<SandboxRecord>,
        pid: u32,
        argv: Vec<String>,
    },
    Http {
        addr: SocketAddr,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        addr: SocketAddr,
    },
}

/// A probe's answer: passed, or why not (the Unhealthy event's text).
pub type Answer = Result<(), String>;

/// The port a probe names: its number, or the container port of that name.
pub fn port(p: &PortRef, ports: &[labyrinth_contracts::probe::ContainerPort]) -> Result<u16, String> {
    let n = match p {
        PortRef::Number(n) => *n,
        PortRef::Name(name) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => ports
                .iter()
                .find(|c| c.name.as_deref() == Some(name.as_str()))
                .map(|c| c.container_port)
                .ok_or_else(|| format!("port {name:?} is not one of the container's named ports"))?,
        },
    };
    u16::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("port {n} is out of range 1-65535"))
}

/// The check a probe spec asks for. `pod_ip`: where httpGet and tcpSocket
/// go without a `host`.
pub fn resolve(
    probe: &Probe,
    ports: &[labyrinth_contracts::probe::ContainerPort],
    pod_ip: Option<std::net::Ipv4Addr>,
    exec_in: impl FnOnce(Vec<String>) -> Result<Check, String>,
) -> Result<Check, String> {
    let addr = |host: &Option<String>, p: &PortRef| -> Result<SocketAddr, String> {
        let port = port(p, ports)?;
        let ip = match host.as_deref() {
            Some(h) if !h.is_empty() => h
                .parse()
                .map_err(|_| format!("host {h:?} is not an IP address"))?,
            _ => std::net::IpAddr::V4(pod_ip.ok_or("the pod has no IP")?),
        };
        Ok(SocketAddr::new(ip, port))
    };
    if let Some(e) = &probe.exec {
        if e.command.is_empty() {
            return Err("exec probe with an empty command".into());
        }
        return exec_in(e.command.clone());
    }
    if let Some(h) = &probe.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("HTTP");
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "httpGet scheme {scheme:?} is not supported here (only HTTP)"
            ));
        }
        let path = h
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        let headers = h
            .http_headers
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect();
        return Ok(Check::Http {
            addr: addr(&h.host, &h.port)?,
            path,
            headers,
        });
    }
    if let Some(t) = &probe.tcp_socket {
        return Ok(Check::Tcp {
            addr: addr(&t.host, &t.port)?,
        });
    }
    Err("the probe has no handler (exec, httpGet or tcpSocket)".into())
}

/// Run it, within `timeout`.
pub async fn run(check: Check, timeout: Duration) -> Answer {
    match check {
        Check::Exec {
            pause,
            rec,
            pid,
            argv,
        } => tokio::task::spawn_blocking(move || exec(&pause, &rec, pid, &argv, timeout))
            .await
            .unwrap_or_else(|e| Err(format!("exec probe: {e}"))),
        Check::Http { addr, path, headers } => {
            let url = format!("http://{addr}{path}");
            match tokio::time::timeout(timeout, http_get(addr, &path, &headers)).await {
                Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
                Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
                Ok(Err(e)) => Err(format!("Get {url:?}: {e}")),
                Err(_) => Err(format!(
                    "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            }
        }
        Check::Tcp { addr } => match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        },
    }
}

/// One GET, HTTP/1.1 with `Connection: close`, as the kubelet's prober
/// sends it (its User-Agent and Accept unless the probe sets them); the
/// status code of the answer.
async fn http_get(addr: SocketAddr, path: &str, headers: &[(String, String)]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr).await?;
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        req += &format!("Host: {addr}\r\n");
    }
    if !has("user-agent") {
        req += "User-Agent: kube-probe/1.37\r\n";
    }
    if !has("accept") {
        req += "Accept: */*\r\n";
    }
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "Connection: close\r\n\r\n";
    s.write_all(req.as_bytes()).await?;
    // Only the status line is needed: "HTTP/1.1 200 OK".
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    status_code(&buf).ok_or_else(|| std::io::Error::other("malformed HTTP response"))
}

fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// The command in the container, with the environment its process has;
/// exit status 0 passes. Its output (the first KiB) says why it failed.
fn exec(
    pause: &std::path::Path,
    rec: &SandboxRecord,
    pid: u32,
    argv: &[String],
    timeout: Duration,
) -> Answer {
    use std::io::{Read, Seek};
    let mut cmd = container::command_in_container(pause, rec, pid, argv).map_err(|e| format!("{e:#}"))?;
    // An unnamed file, not a pipe: a command that writes more than a pipe
    // holds would block until its timeout instead of ending.
    let mut out = output_file().map_err(|e| format!("exec probe output: {e}"))?;
    let (o, e) = (out.try_clone(), out.try_clone());
    let (o, e) = o
        .and_then(|o| Ok((o, e?)))
        .map_err(|e| format!("exec probe output: {e}"))?;
    let mut child = cmd
        .env_clear()
        .envs(container::process_env(pid))
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e)
        .spawn()
        .map_err(|e| format!("starting {argv:?}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("command {argv:?} timed out after {}s", timeout.as_secs()));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut text = Vec::new();
    let _ = out
        .rewind()
        .and_then(|_| (&mut out).take(1024).read_to_end(&mut text));
    let code = status
        .code()
        .map_or_else(|| status.to_string(), |c| format!("exit code {c}"));
    Err(format!(
        "command {argv:?} failed with {code}: {}",
        String::from_utf8_lossy(&text).trim()
    ))
}

fn output_file() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(std::env::temp_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::probe::ContainerPort;

    #[test]
    fn ports_by_number_or_by_the_containers_port_name() {
        let ports = [ContainerPort {
            name: Some("http".into()),
            container_port: 8080,
        }];
        assert_eq!(port(&PortRef::Number(80), &ports), Ok(80));
        assert_eq!(port(&PortRef::Name("http".into()), &ports), Ok(8080));
        assert_eq!(port(&PortRef::Name("81".into()), &ports), Ok(81));
        let e = port(&PortRef::Name("metrics".into()), &ports).unwrap_err();
        assert!(e.contains("\"metrics\""), "{e}");
        assert!(port(&PortRef::Number(70000), &ports)
            .unwrap_err()
            .contains("70000"));
    }

    #[test]
    fn http_and_tcp_go_to_the_pod_ip_unless_a_host_is_given() {
        let probe: Probe = serde_json::from_value(serde_json::json!({
            "httpGet": {"path": "healthz", "port": 8080, "httpHeaders": [{"name": "X-A", "value": "b"}]}}))
        .unwrap();
        let ip = Some("10.244.1.5".parse().unwrap());
        let no_exec = |_| Err("no exec".to_string());
        match resolve(&probe, &[], ip, no_exec).unwrap() {
            Check::Http { addr, path, headers } => {
                assert_eq!(addr.to_string(), "10.244.1.5:8080");
                assert_eq!(path, "/healthz");
                assert_eq!(headers, [("X-A".to_string(), "b".to_string())]);
            }
            c => panic!("{c:?}"),
        }
        let probe: Probe =
            serde_json::from_value(serde_json::json!({"tcpSocket": {"host": "127.0.0.1", "port": 53}}))
                .unwrap();
        assert!(
            matches!(resolve(&probe, &[], ip, no_exec), Ok(Check::Tcp { addr }) if addr.to_string() == "127.0.0.1:53")
        );
        let https: Probe =
            serde_json::from_value(serde_json::json!({"httpGet": {"port": 443, "scheme": "HTTPS"}})).unwrap();
        assert!(resolve(&https, &[], ip, no_exec).unwrap_err().contains("HTTPS"));
        assert!(resolve(&Probe::default(), &[], ip, no_exec)
            .unwrap_err()
            .contains("no handler"));
    }

    #[test]
    fn the_status_code_is_read_from_the_status_line() {
        assert_eq!(status_code(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\nX: y"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[tokio::test]
    async fn http_probe_passes_below_400_and_fails_with_the_code_above() {
        for (answer, expect_ok) in [("HTTP/1.1 302 Found", true), ("HTTP/1.1 500 Oops", false)] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut req = vec![0u8; 1024];
                let n = s.read(&mut req).await.unwrap();
                s.write_all(format!("{answer}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                String::from_utf8_lossy(&req[..n]).to_string()
            });
            let check = Check::Http {
                addr,
                path: "/ready".into(),
                headers: vec![("X-Probe".into(), "1".into())],
            };
            let got = run(check, Duration::from_secs(5)).await;
            let req = server.await.unwrap();
            assert!(
                req.starts_with("GET /ready HTTP/1.1\r\n") && req.contains("X-Probe: 1\r\n"),
                "{req}"
            );
            assert!(req.contains("User-Agent: kube-probe/"), "{req}");
            assert_eq!(got.is_ok(), expect_ok, "{got:?}");
            if let Err(e) = got {
                assert!(e.contains("statuscode: 500"), "{e}");
            }
        }
    }

    #[tokio::test]
    async fn tcp_probe_fails_on_a_closed_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(run(Check::Tcp { addr }, Duration::from_secs(5)).await, Ok(()));
        drop(l);
        let e = run(Check::Tcp { addr }, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.contains(&addr.to_string()), "{e}");
    }
}
