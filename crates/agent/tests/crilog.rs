//! The container log writer (native/crilog.c) as a container feeds it:
//! what is written to its two pipes lands in the CRI log file as whole
//! records, `<RFC 3339 time> <stream> <F|P> <text>`, each stream's in the
//! order written. Covered: two thousand lines in one write (several in
//! each read), a line written in two pieces, a line longer than
//! 16 KiB (a P record of 16 KiB, then the rest), stderr beside stdout, a
//! last line without its newline, and the writer ending once both pipes
//! are closed. Needs no root.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use nix::fcntl::OFlag;

/// (time, stream, tag, text) of each record in the file.
fn records(text: &str) -> Vec<(Timestamp, String, String, String)> {
    text.split_terminator('\n')
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let mut next = || {
                parts
                    .next()
                    .unwrap_or_else(|| panic!("not a CRI record: {line:?}"))
            };
            let ts: Timestamp = next().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
            (ts, next().to_string(), next().to_string(), next().to_string())
        })
        .collect()
}

/// The processes running the writer for `file` (its argument).
fn writers_of(file: &Path) -> Vec<i32> {
    let want = file.as_os_str().as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|b| *b == 0).any(|arg| arg == want)
        })
        .collect()
}

#[test]
fn lines_land_as_whole_cri_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("labyrinth-crilog");
    labyrinth_agent::runtime::logs::install(&program).unwrap();
    let file = dir.path().join("0.log");
    // As the agent makes them (runtime/logs.rs): close-on-exec, so the
    // writer holds no write end of its own pipes and sees them close.
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    // As the agent starts it: the read ends as its stdin and stdout; it
    // forks, and its parent exits once the file is open.
    let started = Command::new(&program)
        .arg(&file)
        .stdin(Stdio::from(out_r))
        .stdout(Stdio::from(err_r))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let mut out = std::fs::File::from(out_w);
    let mut err = std::fs::File::from(err_w);
    let many: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    out.write_all(many.as_bytes()).unwrap();
    err.write_all(b"an error\n").unwrap();
    out.write_all(b"in ").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    out.write_all(b"two pieces\n").unwrap();
    let long = "x".repeat(16384 + 10);
    out.write_all(format!("{long}\n").as_bytes()).unwrap();
    out.write_all(b"no newline at the end").unwrap();
    drop(out);
    drop(err);

    // The writer ends when both pipes close, after its last record.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.ends_with("no newline at the end\n") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Both pipes are closed: the writer ends by itself (a writer left
    // running is killed here, so a failure leaves nothing behind).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !writers_of(&file).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = writers_of(&file);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        left.is_empty(),
        "the writer still runs with both pipes closed: {left:?}"
    );
    let all = records(&text);
    let of = |stream: &str| -> Vec<(String, String)> {
        all.iter()
            .filter(|r| r.1 == stream)
            .map(|r| (r.2.clone(), r.3.clone()))
            .collect()
    };
    let mut want: Vec<(String, String)> = (0..2000).map(|i| ("F".into(), format!("line {i}"))).collect();
    want.push(("F".into(), "in two pieces".into()));
    want.push(("P".into(), "x".repeat(16384)));
    want.push(("F".into(), "x".repeat(10)));
    want.push(("F".into(), "no newline at the end".into()));
    let got = of("stdout");
    // Shown as tag and length: the long line would fill the screen.
    let last: Vec<(&str, usize)> = got
        .iter()
        .rev()
        .take(5)
        .map(|(t, x)| (t.as_str(), x.len()))
        .collect();
    assert_eq!(got.len(), want.len(), "stdout records, the last five: {last:?}");
    assert!(got == want, "stdout records differ from what was written");
    assert_eq!(of("stderr"), [("F".to_string(), "an error".to_string())]);
    assert_eq!(all.len(), want.len() + 1, "a record of neither stream");
    // Stamped when read: never earlier than a record written before it.
    let stamps: Vec<Timestamp> = all.iter().filter(|r| r.1 == "stdout").map(|r| r.0).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "stdout stamps go back in time"
    );
}
