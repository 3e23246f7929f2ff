//! A process identified by pid *and* start time, so a recycled pid is never
//! mistaken for the process we recorded (namespace holders, pod sandboxes,
//! container processes).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    /// Field 22 of /proc/<pid>/stat (clock ticks since boot).
    pub start_time: u64,
}

impl ProcessRef {
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let (_, start_time) = stat_fields(pid)?;
        Ok(ProcessRef { pid, start_time })
    }

    /// Still the same process, and not a zombie.
    pub fn alive(&self) -> bool {
        match stat_fields(self.pid) {
            Ok((state, start)) => start == self.start_time && state != 'Z' && state != 'X',
            Err(_) => false,
        }
    }

    /// The same process, in any state, zombies included: one that has
    /// exited but was not yet reaped by its parent.
    pub fn exists(&self) -> bool {
        stat_fields(self.pid).is_ok_and(|(_, start)| start == self.start_time)
    }

    /// Path of one of its namespace files, e.g. `ns_path("net")`.
    pub fn ns_path(&self, ns: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{ns}", self.pid))
    }
}

/// (state, start time) from /proc/<pid>/stat.
fn stat_fields(pid: u32) -> std::io::Result<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed /proc/<pid>/stat");
    // The command name may hold spaces and parens; fields resume after the
    // last ')'.
    let rest = stat.get(stat.rfind(')').ok_or_else(bad)? + 2..).ok_or_else(bad)?;
    let mut fields = rest.split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next()).ok_or_else(bad)?;
    let start = fields.nth(18).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_this_process() {
        let me = ProcessRef::of(std::process::id()).unwrap();
        assert!(me.alive());
        let impostor = ProcessRef {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(
            !impostor.alive(),
            "a different start time must not count as the same process"
        );
    }
}
