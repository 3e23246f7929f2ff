//! `agnhost netexec`: the e2e tests' HTTP server (`--http-port`, 8080) and
//! UDP server (`--udp-port`, 8081).
//!
//! HTTP: `/` (the time), `/hostname`, `/clientip` (the caller's ip:port),
//! `/echo?msg=`, `/dial?request=&host=&port=&protocol=http|udp&tries=`
//! (JSON `{"responses": [...], "errors": [...]}`), `/shell?cmd=` (JSON
//! `{"output": ...}`, plus `"error"` when the command failed),
//! `/exit?code=`, `/healthz`. UDP: `hostname`, `echo MSG`, `clientip`.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use super::http::{Request, Response};

#[derive(Debug, Clone, clap::Args)]
pub struct NetexecArgs {
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// UDP port (-1: none).
    #[arg(long, default_value_t = 8081, allow_negative_numbers = true)]
    pub udp_port: i32,
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

pub fn run(a: &NetexecArgs) -> Result<i32> {
    let name = super::hostname()?;
    if a.udp_port >= 0 {
        let port = u16::try_from(a.udp_port).context("--udp-port is not a port")?;
        let sock = UdpSocket::bind(("0.0.0.0", port)).with_context(|| format!("listening on udp {port}"))?;
        let name = name.clone();
        std::thread::spawn(move || serve_udp(sock, &name));
    }
    let l = TcpListener::bind(("0.0.0.0", a.http_port))
        .with_context(|| format!("listening on tcp {}", a.http_port))?;
    eprintln!("netexec: HTTP on {}, UDP on {}", a.http_port, a.udp_port);
    super::http::serve(l, Arc::new(move |r| handle(r, &name)));
    Ok(1)
}

fn serve_udp(sock: UdpSocket, name: &str) {
    let mut buf = [0u8; 2048];
    while let Ok((n, from)) = sock.recv_from(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).trim().to_string();
        let answer = if msg == "hostname" {
            name.to_string()
        } else if msg == "clientip" {
            from.to_string()
        } else if let Some(rest) = msg.strip_prefix("echo ") {
            rest.to_string()
        } else {
            continue;
        };
        let _ = sock.send_to(answer.as_bytes(), from);
    }
}

pub fn handle(r: &Request, name: &str) -> Response {
    match r.path.as_str() {
        "/" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (200, TEXT, format!("NOW: {}", now.as_secs()))
        }
        "/hostname" => (200, TEXT, name.to_string()),
        "/clientip" => (200, TEXT, r.peer.to_string()),
        "/echo" => (200, TEXT, r.param("msg").unwrap_or("").to_string()),
        "/healthz" => (200, TEXT, "ok".into()),
        "/dial" => dial(r),
        "/shell" => shell(r),
        "/exit" => {
            let code = r.param("code").and_then(|c| c.parse().ok()).unwrap_or(0);
            std::process::exit(code)
        }
        p => (404, TEXT, format!("404 page not found: {p}\n")),
    }
}

fn dial(r: &Request) -> Response {
    let need = |k: &str| r.param(k).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(host), Some(port), Some(request)) = (need("host"), need("port"), need("request")) else {
        return (400, TEXT, "dial needs host, port and request\n".into());
    };
    let protocol = r.param("protocol").unwrap_or("http").to_string();
    let tries: u32 = r.param("tries").and_then(|t| t.parse().ok()).unwrap_or(1).max(1);
    let addr = match format!("{host}:{port}").to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => return (400, TEXT, format!("cannot resolve {host}:{port}\n")),
    };
    let (mut responses, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..tries {
        match one_dial(&protocol, addr, &request) {
            Ok(body) => responses.push(body),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (
        200,
        JSON,
        json!({"responses": responses, "errors": errors}).to_string(),
    )
}

fn one_dial(protocol: &str, addr: SocketAddr, request: &str) -> Result<String> {
    let timeout = Duration::from_secs(5);
    match protocol {
        "http" => super::http::get(addr, &format!("/{}", request.trim_start_matches('/')), timeout),
        "udp" => {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(addr)?;
            s.set_read_timeout(Some(timeout))?;
            s.send(request.as_bytes())?;
            let mut buf = [0u8; 2048];
            let n = s
                .recv(&mut buf)
                .with_context(|| format!("no UDP answer from {addr}"))?;
            Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
        }
        p => anyhow::bail!("unsupported protocol {p:?} (http or udp)"),
    }
}

fn shell(r: &Request) -> Response {
    let cmd = r.param("shellCommand").or(r.param("cmd")).unwrap_or("");
    match Command::new("/bin/sh").arg("-c").arg(cmd).output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let body = if out.status.success() {
                json!({"output": text})
            } else {
                json!({"output": text, "error": format!("{}", out.status)})
            };
            (200, JSON, body.to_string())
        }
        Err(e) => (500, JSON, json!({"error": e.to_string()}).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, q: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            query: super::super::http::parse_query(q),
            peer: "10.0.1.2:40000".parse().unwrap(),
        }
    }

    #[test]
    fn endpoints_answer_like_agnhost() {
        assert_eq!(handle(&req("/hostname", ""), "p").2, "p");
        assert_eq!(handle(&req("/clientip", ""), "p").2, "10.0.1.2:40000");
        assert_eq!(handle(&req("/echo", "msg=a+b"), "p").2, "a b");
        assert_eq!(handle(&req("/nope", ""), "p").0, 404);
        let out: serde_json::Value =
            serde_json::from_str(&handle(&req("/shell", "cmd=echo+hi"), "p").2).unwrap();
        assert_eq!(out["output"], "hi\n");
        assert_eq!(handle(&req("/dial", "host=x"), "p").0, 400);
    }

    #[test]
    fn dial_reports_failures_as_errors() {
        // A port nobody listens on, on loopback: refused, reported, not fatal.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let (code, _, body) = handle(
            &req(
                "/dial",
                &format!("host=127.0.0.1&port={port}&request=hostname&tries=2"),
            ),
            "p",
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((code, v["responses"].as_array().unwrap().len()), (200, 0));
        assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    }
}
