//! One exec: the command started inside the pod exactly as `labyrinth
//! runtime exec` starts it (the sandbox's namespaces), with the container's
//! environment, wired to the websocket's channels through pipes or a
//! pseudo-terminal; its exit status goes back on the error channel.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use labyrinth_netlink::process::ProcessRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::protocol::{self, ExecOptions, Incoming, Outcome, TermSize};
use super::pty::{self, Pty};
use crate::runtime::container;
use crate::runtime::sandbox::SandboxRecord;

/// How long a TTY exec waits for the client's first window size, so the
/// command starts with the right one (kubectl sends it right away).
const FIRST_SIZE_GRACE: Duration = Duration::from_secs(1);
/// How long to wait for the client's reply to our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// An exec's command, and where its terminal comes from.
pub struct Exec {
    pub cmd: std::process::Command,
    /// The container's own `/dev/ptmx`, through its process's root: an
    /// exec's terminal is one of the container's `/dev/pts`.
    ptmx: std::path::PathBuf,
}

/// The command, set up to run inside the pod.
pub fn command(
    pause: &std::path::Path,
    rec: &SandboxRecord,
    process: &ProcessRef,
    opts: &ExecOptions,
) -> Result<Exec> {
    // In the container's root (its process's mount namespace) and the pod's PID namespace.
    let mut cmd = container::command_in_container(pause, rec, process.pid, &opts.command)?;
    let mut env = container::process_env(process.pid);
    if env.is_empty() {
        env.push(("PATH".into(), crate::runtime::container_path()));
    }
    if opts.tty && !env.iter().any(|(k, _)| k == "TERM") {
        env.push(("TERM".into(), "xterm".into()));
    }
    cmd.env_clear().envs(env);
    let ptmx = format!("/proc/{}/root/dev/ptmx", process.pid).into();
    Ok(Exec { cmd, ptmx })
}

struct Spawned {
    child: tokio::process::Child,
    stdin: Option<Writer>,
    outputs: Vec<(u8, Box<dyn AsyncRead + Send + Unpin>)>,
    /// The terminal's master side, for resizes.
    master: Option<Arc<OwnedFd>>,
}

fn spawn(exec: Exec, opts: &ExecOptions, size: Option<TermSize>) -> Result<Spawned> {
    let Exec { mut cmd, ptmx } = exec;
    let name = opts.command[0].clone();
    if opts.tty {
        let master = Pty::open(&ptmx, size)?.attach(&mut cmd)?;
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("starting {name:?}"))?;
        // Our copies of the terminal's slave side go with the Command.
        drop(cmd);
        let reader = tokio::fs::File::from_std(std::fs::File::from(master.try_clone()?));
        let writer = tokio::fs::File::from_std(std::fs::File::from(master.try_clone()?));
        return Ok(Spawned {
            child,
            stdin: opts.stdin.then(|| Box::new(writer) as Writer),
            outputs: vec![(protocol::STDOUT, Box::new(reader))],
            master: Some(Arc::new(master)),
        });
    }
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(pipe(opts.stdin))
        .stdout(pipe(opts.stdout))
        .stderr(pipe(opts.stderr))
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {name:?}"))?;
    let mut outputs: Vec<(u8, Box<dyn AsyncRead + Send + Unpin>)> = Vec::new();
    if let Some(o) = child.stdout.take() {
        outputs.push((protocol::STDOUT, Box::new(o)));
    }
    if let Some(e) = child.stderr.take() {
        outputs.push((protocol::STDERR, Box::new(e)));
    }
    let stdin = child.stdin.take().map(|w| Box::new(w) as Writer);
    Ok(Spawned {
        child,
        stdin,
        outputs,
        master: None,
    })
}

/// Copy one output of the command to its channel until it ends.
async fn pump(mut r: Box<dyn AsyncRead + Send + Unpin>, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // A terminal's master reports EIO once the command's side is closed.
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let msg = Message::Binary(protocol::frame(channel, &buf[..n]).into());
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// The bytes of a data message. The Python client writes `str` data as
/// TEXT frames (channel byte first, as in BINARY ones): same protocol,
/// other opcode, so both are read alike.
fn payload(m: &Message) -> &[u8] {
    match m {
        Message::Binary(b) => b,
        Message::Text(t) => t.as_bytes(),
        _ => &[],
    }
}

/// Apply what the client sends until it goes away; `gone` is set then.
async fn input(
    mut stream: SplitStream<WebSocket>,
    early: Vec<Incoming>,
    mut stdin: Option<Writer>,
    master: Option<Arc<OwnedFd>>,
    gone: watch::Sender<bool>,
) {
    async fn apply(m: Incoming, stdin: &mut Option<Writer>, master: &Option<Arc<OwnedFd>>) {
        match m {
            Incoming::Stdin(data) => {
                if let Some(w) = stdin.as_mut() {
                    if w.write_all(&data).await.and(w.flush().await).is_err() {
                        *stdin = None;
                    }
                }
            }
            // Half-close: the command reads end of file.
            Incoming::Close(protocol::STDIN) => {
                if let Some(mut w) = stdin.take() {
                    let _ = w.shutdown().await;
                }
            }
            Incoming::Resize(sizes) => {
                if let (Some(m), Some(last)) = (master, sizes.last()) {
                    if let Err(e) = pty::resize(m.as_fd(), *last) {
                        tracing::warn!("exec resize: {e:#}");
                    }
                }
            }
            _ => {}
        }
    }
    for m in early {
        apply(m, &mut stdin, &master).await;
    }
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(m @ (Message::Binary(_) | Message::Text(_))) => match protocol::parse(payload(&m)) {
                Ok(m) => apply(m, &mut stdin, &master).await,
                Err(e) => tracing::warn!("exec: bad client message: {e:#}"),
            },
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = gone.send(true);
}

/// Read the client's first messages until it tells the terminal size (or a
/// grace period passes); what else came is kept for later. None: the client
/// went away.
async fn first_size(stream: &mut SplitStream<WebSocket>) -> Option<(Option<TermSize>, Vec<Incoming>)> {
    let mut early = Vec::new();
    let deadline = tokio::time::sleep(FIRST_SIZE_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => match protocol::parse(payload(&m)) {
                    Ok(Incoming::Resize(s)) if !s.is_empty() => return Some((s.last().copied(), early)),
                    Ok(other) => early.push(other),
                    Err(e) => tracing::warn!("exec: bad client message: {e:#}"),
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
            _ = &mut deadline => return Some((None, early)),
        }
    }
}

/// Until the client has gone (the guard `wait_for` returns is not Send, so
/// it must not live in the caller's future).
async fn left(gone: &mut watch::Receiver<bool>) {
    let _ = gone.wait_for(|g| *g).await.map(|_| ());
}

/// The end of a session: its outcome as a Status on the error channel,
/// then a normal close.
pub(super) async fn finish(tx: &mpsc::Sender<Message>, outcome: &Outcome) {
    let st = protocol::status(outcome).to_string();
    let status = protocol::frame(protocol::ERROR, st.as_bytes());
    let _ = tx.send(Message::Binary(status.into())).await;
    let close = CloseFrame {
        code: 1000,
        reason: "".into(),
    };
    let _ = tx.send(Message::Close(Some(close))).await;
}

/// The task that sends a session's messages in order, up to and
/// including a close; the sender to queue them.
pub(super) fn spawn_writer(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
) -> (mpsc::Sender<Message>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let last = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });
    (tx, writer)
}

/// Run the exec over an upgraded websocket.
pub async fn run(ws: WebSocket, cmd: Exec, opts: ExecOptions) {
    let (sink, mut stream) = ws.split();
    let (tx, writer) = spawn_writer(sink);

    let (size, early) = if opts.tty {
        match first_size(&mut stream).await {
            Some(x) => x,
            None => return,
        }
    } else {
        (None, Vec::new())
    };
    let (gone_tx, mut gone) = watch::channel(false);
    let outcome = match spawn(cmd, &opts, size) {
        Err(e) => {
            tokio::spawn(input(stream, early, None, None, gone_tx));
            Outcome::Failed(format!("{e:#}"))
        }
        Ok(mut sp) => {
            tokio::spawn(input(stream, early, sp.stdin.take(), sp.master.clone(), gone_tx));
            let pumps: Vec<_> = sp
                .outputs
                .drain(..)
                .map(|(ch, r)| tokio::spawn(pump(r, ch, tx.clone())))
                .collect();
            let status = tokio::select! {
                st = sp.child.wait() => st,
                _ = left(&mut gone) => {
                    // The client went away: so does its command.
                    let _ = sp.child.kill().await;
                    return;
                }
            };
            // The rest of the output, unless the client leaves first.
            tokio::select! {
                _ = futures::future::join_all(pumps) => {}
                _ = left(&mut gone) => return,
            }
            match status {
                Ok(st) => Outcome::Exited(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))),
                Err(e) => Outcome::Failed(format!("waiting for the command: {e}")),
            }
        }
    };
    finish(&tx, &outcome).await;
    drop(tx);
    let _ = writer.await;
    // Leave the connection once the client has answered our close (closing
    // with its data unread could reset the connection and lose the tail).
    let _ = tokio::time::timeout(CLOSE_GRACE, left(&mut gone)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python client's stdin, as it writes a `str`: a TEXT frame whose
    /// first character is the channel.
    #[test]
    fn text_frames_carry_stdin_as_binary_ones_do() {
        let text = Message::Text("\u{0}hello\n".into());
        assert_eq!(
            protocol::parse(payload(&text)).unwrap(),
            Incoming::Stdin(b"hello\n".to_vec())
        );
        let binary = Message::Binary(b"\x00hello\n".to_vec().into());
        assert_eq!(payload(&binary), payload(&text));
        assert!(payload(&Message::Ping(Vec::new().into())).is_empty());
    }
}
