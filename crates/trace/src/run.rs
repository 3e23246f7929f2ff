//! One trace from start to end: read the lab, plan the capture points,
//! snapshot what the annotators need, capture while the source pod sends
//! (or while watching), correlate, explain.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::capture::{points, Capture};
use crate::explain::{self, Annotator, Context};
use crate::model::{Request, Trace};
use crate::topology::Lab;

/// What makes the traffic.
#[derive(Debug, Clone)]
pub enum Action {
    /// The source pod sends this line with `nc` to TO:PORT.
    Send(String),
    /// Only watch, for this long.
    Observe(Duration),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub lab: String,
    pub request: Request,
    pub action: Action,
    /// Our own executable (runs `lab ssh … runtime exec` for the sender).
    pub exe: PathBuf,
}

/// How the sender ended (for `--send`).
#[derive(Debug, Clone)]
pub struct Sent {
    pub ok: bool,
    pub output: String,
}

pub struct Outcome {
    pub trace: Trace,
    pub sent: Option<Sent>,
}

/// How long the sender may take before it is stopped.
const SEND_BOUND: Duration = Duration::from_secs(20);

pub fn trace(opts: &Options, annotators: &mut [Box<dyn Annotator>]) -> Result<Outcome> {
    let lab = Lab::load(&opts.lab)?;
    let req = &opts.request;
    let src = lab.pod(&req.from)?;
    let src_ip = src
        .ip
        .with_context(|| format!("pod {} has no IP address yet", req.from))?;
    let dst = req.to.parse().ok().and_then(|ip| lab.pod_by_ip(ip));
    let planned = points::plan(&lab, src, dst);
    let ctx = Context {
        lab: &lab,
        request: req,
    };
    let before_notes = explain::before(annotators, &ctx);

    let capture = Capture::start(planned, src_ip)?;
    let sent = match &opts.action {
        Action::Send(text) => {
            let child = sender(opts, &src.node, text)?;
            let sent = finish(child)?;
            capture.settle(Duration::from_millis(300), Duration::from_secs(3));
            Some(sent)
        }
        Action::Observe(d) => {
            std::thread::sleep(*d);
            None
        }
    };
    let captured = capture.stop();

    let packets = crate::correlate::correlate(&captured.frames, req.port);
    let mut trace = Trace {
        lab: lab.name.clone(),
        request: req.clone(),
        points: captured.points,
        absent: captured.absent,
        capture_drops: captured.drops,
        packets,
        notes: before_notes,
        start: captured.frames.first().map(|f| f.ts).unwrap_or_default(),
        frames: captured.frames,
    };
    explain::annotate(annotators, &ctx, &mut trace);
    Ok(Outcome { trace, sent })
}

/// `nc` in the source pod, through the node's runtime (as `labyrinth exec`).
fn sender(opts: &Options, node: &str, text: &str) -> Result<Child> {
    let r = &opts.request;
    let nc = if r.udp { "nc -u -w 1" } else { "nc -N -w 2" };
    let script = format!(
        "printf '%s\\n' \"$LABYRINTH_TRACE_TEXT\" | {nc} \"$LABYRINTH_TRACE_TO\" {}",
        r.port
    );
    let exe = opts.exe.to_string_lossy();
    // The pod's command gets the container's environment plus these two
    // (not ours: a pod never sees its caller's environment).
    let text = format!("LABYRINTH_TRACE_TEXT={text}");
    let to = format!("LABYRINTH_TRACE_TO={}", r.to);
    Command::new(&opts.exe)
        .args(["lab", "ssh", "--name", &opts.lab, node, "--"])
        .args([
            exe.as_ref(),
            "runtime",
            "exec",
            "--env",
            &text,
            "--env",
            &to,
            &r.from,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the sender in the source pod")
}

/// Wait for the sender (bounded), politely stopping it when it overstays.
fn finish(mut child: Child) -> Result<Sent> {
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > SEND_BOUND {
            // `lab ssh` passes SIGTERM on to the command and reaps it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().context("waiting for the sender")?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        output.push_str(&format!("({})", out.status));
    }
    Ok(Sent {
        ok: out.status.success(),
        output,
    })
}

/// `TO:PORT` → (to, port).
pub fn parse_target(s: &str) -> Result<(String, u16)> {
    let Some((to, port)) = s.rsplit_once(':') else {
        bail!("target {s:?}: expected HOST:PORT (an IP address or a name, then the port)");
    };
    if to.is_empty() {
        bail!("target {s:?}: the host part is empty");
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| format!("target {s:?}: port {port:?} is not a number from 1 to 65535"))?;
    Ok((to.to_string(), port))
}
