//! `netexec serve`: answer every TCP connection and every UDP datagram on
//! one port with the pod's hostname (one line), so a client can tell which
//! backend a Service picked.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port for both TCP and UDP.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub address: IpAddr,
    /// The answer (default: this pod's hostname).
    #[arg(long)]
    pub answer: Option<String>,
}

pub fn run(a: &ServeArgs) -> Result<i32> {
    let answer = match &a.answer {
        Some(s) => s.clone(),
        None => nix::unistd::gethostname()
            .context("reading the hostname")?
            .to_string_lossy()
            .into_owned(),
    };
    let at = SocketAddr::new(a.address, a.port);
    let tcp = TcpListener::bind(at).with_context(|| format!("listening on tcp {at}"))?;
    let udp = UdpSocket::bind(at).with_context(|| format!("listening on udp {at}"))?;
    eprintln!("netexec: answering {answer:?} on tcp and udp {at}");
    let udp_thread = spawn_udp(udp, answer.clone())?;
    serve_tcp(tcp, answer);
    let _ = udp_thread.join();
    Ok(1)
}

/// Answer datagrams until the socket fails.
pub fn spawn_udp(sock: UdpSocket, answer: String) -> Result<std::thread::JoinHandle<()>> {
    let line = format!("{answer}\n");
    std::thread::Builder::new()
        .name("udp".into())
        .spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((_, from)) => {
                        let _ = sock.send_to(line.as_bytes(), from);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        eprintln!("netexec: udp: {e}");
                        return;
                    }
                }
            }
        })
        .context("starting the UDP thread")
}

/// Accept connections until the listener fails; each gets its own thread.
pub fn serve_tcp(listener: TcpListener, answer: String) {
    let line: std::sync::Arc<str> = format!("{answer}\n").into();
    each_connection(listener, "tcp", move |stream| answer_tcp(stream, &line));
}

/// Accept connections until the listener fails; `f` runs for each in a
/// thread of its own.
pub fn each_connection<F>(listener: TcpListener, name: &str, f: F)
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let f = std::sync::Arc::new(f);
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let f = f.clone();
        let _ = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(stream));
    }
}

/// Write the answer, close our side, and drain what the client sent (a
/// close with unread data would reset the connection under the answer).
fn answer_tcp(mut stream: TcpStream, line: &str) {
    if stream.write_all(line.as_bytes()).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}
