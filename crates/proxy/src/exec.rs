//! Running the userspace tools (iptables-restore, nft) in the
//! calling thread's network namespace, with their stderr in our errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// Run `prog args…`, feeding `stdin`; the output if it exited 0.
pub fn run(prog: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
    let out = run_status(prog, args, stdin)?;
    if !out.status.success() {
        bail!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Like [`run`] but a non-zero exit is returned, not an error.
pub fn run_status(prog: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {prog} (is it installed?)"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        // The tools read all input before writing much, so writing first
        // cannot deadlock on a full stdout pipe.
        pipe.write_all(input)
            .with_context(|| format!("writing input to {prog}"))?;
    }
    child
        .wait_with_output()
        .with_context(|| format!("waiting for {prog}"))
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
