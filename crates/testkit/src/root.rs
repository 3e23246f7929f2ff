//! The gate of every test that needs root, or a tool only the full test
//! environment has.
//!
//! On a developer's machine such a test may be skipped: it prints a
//! `SKIPPED (…): <test>` line and returns. But a skipped test looks like a
//! passed one to libtest and nextest, so an environment that is meant to
//! run everything (CI, `run.sh test`) says so with
//! `LABYRINTH_REQUIRE_ROOT=1`; there the same gate panics, naming the test
//! and what it lacked, and the suite fails.
//!
//! ```ignore
//! if !labyrinth_testkit::root::require("builds_a_veth_pair") {
//!     return;
//! }
//! ```

use std::path::{Path, PathBuf};

/// The variable that makes every gate mandatory.
pub const REQUIRE_VAR: &str = "LABYRINTH_REQUIRE_ROOT";

/// What the root tests do with their privilege: make namespaces and mount
/// bpffs (CAP_SYS_ADMIN), program links, routes and firewalls
/// (CAP_NET_ADMIN), capture and send raw packets (CAP_NET_RAW). Root in a
/// container without these is not root enough.
const NEEDED_CAPS: &[(u32, &str)] = &[(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW"), (21, "CAP_SYS_ADMIN")];

/// Whether this environment must run every test (`LABYRINTH_REQUIRE_ROOT=1`).
/// Unset, empty or `0` means no; any other value is refused, since a typo
/// would otherwise turn the requirement off without a word.
pub fn required() -> bool {
    match std::env::var(REQUIRE_VAR) {
        Err(std::env::VarError::NotPresent) => false,
        Ok(v) if v.is_empty() || v == "0" => false,
        Ok(v) if v == "1" => true,
        other => panic!(
            "{REQUIRE_VAR} must be 1 (every test must run) or 0/unset (root tests may skip), not {other:?}"
        ),
    }
}

/// Gate a root-only `test`: `true` means go on; `false` means it was
/// skipped (a SKIPPED line is printed) and the caller returns. Panics,
/// naming `test`, when the environment requires root tests to run.
pub fn require(test: &str) -> bool {
    match missing_privilege() {
        None => true,
        Some(why) => unavailable(test, &format!("needs root: {why}")),
    }
}

/// Gate a `test` on the command `name` being on the PATH: its path, or
/// `None` after a SKIPPED line. Panics like [`require`] when required.
pub fn tool(test: &str, name: &str) -> Option<PathBuf> {
    match find_on_path(name) {
        Some(p) => Some(p),
        None => {
            unavailable(test, &format!("needs `{name}` on the PATH"));
            None
        }
    }
}

/// Gate a `test` on the file `path` (`what` it is, for the message)
/// existing. Panics like [`require`] when required.
pub fn file(test: &str, path: &Path, what: &str) -> bool {
    path.exists() || unavailable(test, &format!("needs {what} at {}", path.display()))
}

/// Skip (returning `false`) or, when required, fail.
fn unavailable(test: &str, why: &str) -> bool {
    if required() {
        panic!(
            "root test `{test}` cannot run: it {why}, and {REQUIRE_VAR}=1 says this environment \
             must run every test (run it as root with the tools installed, or unset {REQUIRE_VAR} \
             to let it skip)"
        );
    }
    eprintln!("SKIPPED ({why}): {test}");
    false
}

/// Why this process cannot do what root tests do, or `None` if it can.
pub fn missing_privilege() -> Option<String> {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => lacking(&status),
        Err(e) => Some(format!("cannot read /proc/self/status: {e}")),
    }
}

/// From a `/proc/<pid>/status` text: what is missing of euid 0 and the
/// capabilities in [`NEEDED_CAPS`].
fn lacking(status: &str) -> Option<String> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    // "Uid:" lists real, effective, saved and filesystem ids.
    let euid = field("Uid").and_then(|u| u.split_whitespace().nth(1)?.parse::<u32>().ok());
    let caps = field("CapEff").and_then(|c| u64::from_str_radix(c, 16).ok());
    let (Some(euid), Some(caps)) = (euid, caps) else {
        return Some("no Uid or CapEff line in /proc/self/status".into());
    };
    if euid != 0 {
        return Some(format!("running as uid {euid}"));
    }
    let missing: Vec<&str> = NEEDED_CAPS
        .iter()
        .filter(|(bit, _)| caps & (1 << bit) == 0)
        .map(|(_, name)| *name)
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!("uid 0 without {}", missing.join(", ")))
    }
}

/// The program a shell runs for `name`: the first executable file of
/// that name on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(uid: u32, cap_eff: &str) -> String {
        format!("Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\nCapEff:\t{cap_eff}\n")
    }

    #[test]
    fn root_with_every_capability_lacks_nothing() {
        assert_eq!(lacking(&status(0, "000001ffffffffff")), None);
    }

    #[test]
    fn another_uid_is_named() {
        assert_eq!(
            lacking(&status(65534, "0000000000000000")).as_deref(),
            Some("running as uid 65534")
        );
    }

    #[test]
    fn root_without_network_capabilities_names_them() {
        // Only CAP_SYS_ADMIN (bit 21).
        assert_eq!(
            lacking(&status(0, "0000000000200000")).as_deref(),
            Some("uid 0 without CAP_NET_ADMIN, CAP_NET_RAW")
        );
    }

    #[test]
    fn an_unreadable_status_is_a_reason_not_a_pass() {
        assert!(lacking("Name:\tx\n").is_some());
    }

    #[test]
    fn the_shell_is_found_on_the_path_and_nonsense_is_not() {
        assert!(find_on_path("sh").is_some());
        assert_eq!(find_on_path("no-such-tool-labyrinth"), None);
    }
}
