//! Capture at every point at once: one filtered AF_PACKET socket per point,
//! all drained by one thread with poll(2), each frame stamped by the kernel.

pub mod filter;
pub mod points;
pub mod socket;

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

pub use points::{CapturePoint, Role};
use socket::{NoSuchDevice, PacketSocket};

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Index into the capture's points.
    pub point: usize,
    pub ts: Duration,
    pub outgoing: bool,
    pub data: Vec<u8>,
}

/// Everything a finished capture saw.
#[derive(Debug, Default)]
pub struct Captured {
    pub points: Vec<CapturePoint>,
    pub frames: Vec<Frame>,
    /// Frames the kernel dropped, per point.
    pub drops: Vec<u64>,
    /// Planned points whose device does not exist (e.g. no tunnel).
    pub absent: Vec<CapturePoint>,
}

/// A running capture; `stop` ends it and hands the frames over. Dropping it
/// also stops the thread and closes every socket.
pub struct Capture {
    stop: Arc<AtomicBool>,
    seen: Arc<AtomicU64>,
    thread: Option<JoinHandle<Captured>>,
}

impl Capture {
    /// Open a socket at every point (filtered on `host`, the traced pod's
    /// address) and start draining them.
    pub fn start(planned: Vec<CapturePoint>, host: Ipv4Addr) -> Result<Capture> {
        let prog = filter::host_filter(host);
        let mut points = Vec::new();
        let mut sockets = Vec::new();
        let mut absent = Vec::new();
        for p in planned {
            match PacketSocket::open_in(&p.ns_path, &p.device, &prog) {
                Ok(s) => {
                    sockets.push(s);
                    points.push(p);
                }
                Err(e) if e.downcast_ref::<NoSuchDevice>().is_some() => absent.push(p),
                Err(e) => return Err(e).with_context(|| format!("capture point {}", p.name())),
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicU64::new(0));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::Builder::new()
            .name("trace-capture".into())
            .spawn(move || {
                let frames = drain(&sockets, &stop2, &seen2);
                let drops = sockets.iter().map(PacketSocket::drops).collect();
                Captured {
                    points,
                    frames,
                    drops,
                    absent,
                }
            })
            .context("starting the capture thread")?;
        Ok(Capture {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// Frames captured so far.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Wait until no frame has arrived for `quiet` (at most `bound` in all).
    pub fn settle(&self, quiet: Duration, bound: Duration) {
        let start = Instant::now();
        let mut last = self.seen();
        let mut last_change = Instant::now();
        while start.elapsed() < bound {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.seen();
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= quiet {
                return;
            }
        }
    }

    pub fn stop(mut self) -> Captured {
        self.stop.store(true, Ordering::SeqCst);
        let t = self.thread.take().expect("capture already stopped");
        let mut c = t.join().expect("capture thread panicked");
        c.frames.sort_by_key(|f| f.ts);
        c
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn drain(sockets: &[PacketSocket], stop: &AtomicBool, seen: &AtomicU64) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let mut fds: Vec<PollFd> = sockets
            .iter()
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        let timeout = if stopping { 0u16 } else { 20 };
        let ready = poll(&mut fds, PollTimeout::from(timeout)).unwrap_or(0);
        if ready > 0 {
            let readable: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect();
            for (i, s) in sockets.iter().enumerate().filter(|(i, _)| readable[*i]) {
                while let Ok(Some(r)) = s.recv(&mut buf) {
                    frames.push(Frame {
                        point: i,
                        ts: r.ts,
                        outgoing: r.outgoing,
                        data: buf[..r.len].to_vec(),
                    });
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if stopping && ready == 0 {
            return frames;
        }
    }
}
