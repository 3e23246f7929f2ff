//! A lab's machines found without its state record: every machine's init
//! is `labyrinth lab _sandbox … --log <lab dir>/<machine>.log`, so its
//! command line names the lab's run directory. `lab down` uses this when
//! state.json is torn or unreadable, and to check nothing was left.

use std::path::Path;

use crate::state::{Holder, LabDir};

/// The live inits (VPC and nodes) whose console log is in `dir`.
pub fn inits(dir: &LabDir) -> Vec<Holder> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if is_init_of(&cmdline, &dir.path) {
            if let Ok(h) = Holder::of(pid) {
                if h.alive() {
                    found.push(h);
                }
            }
        }
    }
    found
}

/// Whether a NUL-separated command line is a sandbox init logging into `dir`.
fn is_init_of(cmdline: &[u8], dir: &Path) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let sandbox = args
        .windows(2)
        .any(|w| w == [b"lab".as_slice(), b"_sandbox".as_slice()]);
    let log_in_dir = args.windows(2).any(|w| {
        w[0] == b"--log" && Path::new(std::str::from_utf8(w[1]).unwrap_or("")).parent() == Some(dir)
    });
    sandbox && log_in_dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Vec<u8> {
        args.join("\0").into_bytes()
    }

    #[test]
    fn matches_only_this_labs_inits() {
        let dir = Path::new("/run/labyrinth/foo");
        let node = line(&[
            "labyrinth",
            "lab",
            "_sandbox",
            "--hostname",
            "node-1",
            "--log",
            "/run/labyrinth/foo/node-1.log",
        ]);
        assert!(is_init_of(&node, dir));
        // A lab whose name starts with ours is another lab.
        let other = line(&[
            "labyrinth",
            "lab",
            "_sandbox",
            "--log",
            "/run/labyrinth/foo-bar/node-1.log",
        ]);
        assert!(!is_init_of(&other, dir));
        // A command that merely mentions the directory is not an init.
        let tail = line(&["tail", "--log", "/run/labyrinth/foo/node-1.log"]);
        assert!(!is_init_of(&tail, dir));
    }
}
