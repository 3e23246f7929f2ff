//! The lab's API endpoint on the host: a port on the host's loopback that
//! reaches the cluster's API server, as kind publishes its control plane on
//! `127.0.0.1:<port>`. The admin kubeconfig the lab keeps on the host names
//! this port, so the host's own clients (kubectl, the Python client, k9s)
//! work as they are, and a client run in the host's network namespace never
//! sends the lab's private address (10.168.0.2, or the control-plane
//! address) out through the host's default route, as it did when that file
//! named the address only the lab can reach.
//!
//! `up` binds the port in the host's network namespace and hands the socket
//! to `labyrinth lab _api-endpoint`, started in the VPC's network and pid
//! namespaces: it accepts on the host's loopback (a socket stays in the
//! namespace it was made in) and connects from the VPC's gateway to the API
//! server, as a cloud's load balancer in front of a control plane does. It
//! only relays bytes: TLS is between the client and the API server, whose
//! certificate names 127.0.0.1. It ends with the lab, as every process in
//! the VPC's pid namespace does.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::state::{Holder, LabDir};

/// Connections relayed at once; past this a new one is closed at once
/// (a lab has a handful of clients: this only bounds a runaway one).
const MAX_CONNECTIONS: usize = 256;

/// How long a connection to the API server may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What `labyrinth lab _api-endpoint` is given.
#[derive(Debug, Clone, clap::Args)]
pub struct EndpointArgs {
    /// The API server to relay to (`ADDRESS:PORT`, reached from the VPC).
    #[arg(long)]
    pub to: SocketAddr,
}

/// Bind the endpoint on the host's loopback (this thread's network
/// namespace must be the host's), start its relay in the VPC, and return
/// the address clients use.
pub fn start(vpc: &Holder, to: SocketAddr, dir: &LabDir) -> Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .context("binding the lab's API endpoint on the host's loopback")?;
    let at = listener.local_addr()?;
    // The listening socket is the relay's stdin, as inetd hands a service
    // its socket.
    let to_arg = to.to_string();
    let mut cmd = crate::vpc::service_command(
        dir,
        crate::logs::API_ENDPOINT_LOG,
        &["lab", "_api-endpoint", "--to", &to_arg],
    )?;
    cmd.stdin(Stdio::from(OwnedFd::from(listener)));
    crate::vpc::in_vpc(vpc, || {
        let status = cmd
            .status()
            .context("starting labyrinth lab _api-endpoint (setsid)")?;
        if !status.success() {
            bail!("setsid -f labyrinth lab _api-endpoint: {status}");
        }
        Ok(())
    })?;
    Ok(at)
}

/// The host's admin kubeconfig of lab `lab`, once its cluster is up.
pub fn kubeconfig_of(lab: &str) -> Result<std::path::PathBuf> {
    let dir = LabDir::new(lab);
    let state = dir.load()?;
    let path = dir.kubeconfig_path();
    if state.api_endpoint.is_none() || !path.exists() {
        bail!(
            "lab {lab} has no cluster to talk to (was it made with `up --bare`, or is `up` still running?)"
        );
    }
    Ok(path)
}

/// The kubeconfig for the host: `admin` (the control node's admin.conf)
/// with every cluster's server replaced by the endpoint.
pub fn host_kubeconfig(admin: &[u8], endpoint: SocketAddr) -> Result<Vec<u8>> {
    let mut doc: serde_yaml::Value = serde_yaml::from_slice(admin).context("reading the admin kubeconfig")?;
    let clusters = doc
        .get_mut("clusters")
        .and_then(serde_yaml::Value::as_sequence_mut)
        .filter(|c| !c.is_empty())
        .context("the admin kubeconfig names no cluster")?;
    let server = serde_yaml::Value::from(format!("https://{endpoint}"));
    for c in clusters {
        let cluster = c
            .get_mut("cluster")
            .and_then(serde_yaml::Value::as_mapping_mut)
            .context("a cluster of the admin kubeconfig has no `cluster` field")?;
        cluster.insert("server".into(), server.clone());
    }
    Ok(serde_yaml::to_string(&doc)?.into_bytes())
}

/// Entry point of `labyrinth lab _api-endpoint`: relay every connection
/// accepted on stdin's listening socket to the API server.
pub fn run(args: EndpointArgs) -> Result<i32> {
    // SAFETY: `start` made fd 0 a listening socket we alone own from here.
    let listener = TcpListener::from(unsafe { OwnedFd::from_raw_fd(0) });
    let at = listener.local_addr().context("fd 0 is not a listening socket")?;
    eprintln!(
        "relaying {at} (the host's loopback) to the API server at {}",
        args.to
    );
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let client = match conn {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("accepting: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            eprintln!("{MAX_CONNECTIONS} connections open already; closing a new one");
            continue;
        }
        let (open, to) = (open.clone(), args.to);
        let spawned = std::thread::Builder::new().name("relay".into()).spawn(move || {
            if let Err(e) = relay(client, to) {
                eprintln!("{e:#}");
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            eprintln!("no thread for a connection: {e}");
        }
    }
    Ok(0)
}

/// Both directions of one connection until each side has closed its own.
fn relay(client: TcpStream, to: SocketAddr) -> Result<()> {
    let server = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to the API server at {to}"))?;
    // Small frames (a watch event, a PATCH's answer) go out at once, as
    // between the client and the server themselves.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (c2, s2) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::Builder::new()
        .name("relay-up".into())
        .spawn(move || pipe(c2, s2))?;
    pipe(server, client);
    let _ = up.join();
    Ok(())
}

/// Copy `from` into `to` until `from` ends, then end `to`'s writing side
/// (a half-close reaches the far end as it was sent).
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    // The reader is gone: stop reading what nobody takes.
                    let _ = from.shutdown(Shutdown::Read);
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: labyrinth\n  cluster:\n    \
                         server: https://10.168.0.2:6443\n    certificate-authority-data: Q0E=\n\
                         users:\n- name: kubernetes-admin\n  user:\n    token: t0k\n\
                         contexts:\n- name: kubernetes-admin@labyrinth\n  context:\n    cluster: labyrinth\n    \
                         user: kubernetes-admin\ncurrent-context: kubernetes-admin@labyrinth\n";

    #[test]
    fn the_host_kubeconfig_names_the_endpoint_and_keeps_the_rest() {
        let endpoint: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        let out = host_kubeconfig(ADMIN.as_bytes(), endpoint).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_slice(&out).unwrap();
        let before: serde_yaml::Value = serde_yaml::from_str(ADMIN).unwrap();
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:40123");
        assert!(!String::from_utf8(out.clone()).unwrap().contains("10.168.0.2"));
        assert_eq!(
            doc["clusters"][0]["cluster"]["certificate-authority-data"],
            before["clusters"][0]["cluster"]["certificate-authority-data"]
        );
        assert_eq!(doc["users"], before["users"]);
        assert_eq!(doc["contexts"], before["contexts"]);
        assert_eq!(doc["current-context"], before["current-context"]);
    }

    #[test]
    fn a_kubeconfig_without_a_cluster_is_an_error_naming_it() {
        let endpoint: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for bad in [
            "apiVersion: v1\nkind: Config\n",
            "clusters: []\n",
            "clusters:\n- name: x\n",
        ] {
            let e = host_kubeconfig(bad.as_bytes(), endpoint).unwrap_err();
            assert!(format!("{e:#}").contains("cluster"), "{bad:?}: {e:#}");
        }
        let e = host_kubeconfig(b"clusters: [", endpoint).unwrap_err();
        assert!(format!("{e:#}").contains("admin kubeconfig"), "{e:#}");
    }

    /// The relay on loopback, with a plain echo server in the API server's
    /// place: bytes go both ways and a half-close passes through.
    #[test]
    fn the_relay_passes_bytes_both_ways_and_the_half_close() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
        });
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = front.local_addr().unwrap();
        let relayed = std::thread::spawn(move || {
            let (c, _) = front.accept().unwrap();
            relay(c, to).unwrap();
        });
        let mut c = TcpStream::connect(at).unwrap();
        let body = vec![7u8; 200_000];
        c.write_all(&body).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, body);
        echo.join().unwrap();
        relayed.join().unwrap();
    }

    #[test]
    fn a_server_that_is_not_there_is_an_error_naming_it() {
        // A port just freed: nothing listens there.
        let to = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = front.local_addr().unwrap();
        let _c = TcpStream::connect(at).unwrap();
        let (c, _) = front.accept().unwrap();
        let e = relay(c, to).unwrap_err();
        assert!(format!("{e:#}").contains(&format!("API server at {to}")), "{e:#}");
    }
}
