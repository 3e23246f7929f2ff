//! The root gate as a test runner sees it: this test binary is run again,
//! as user `nobody` (dropped with `setpriv` when we are root), playing a
//! root-only test. With `LABYRINTH_REQUIRE_ROOT=1` that run must fail and
//! name the test; without it, it must pass with a SKIPPED line.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use labyrinth_testkit::root;

/// Set in the re-run: which gate to play ("root" or "tool").
const PROBE: &str = "LABYRINTH_TESTKIT_PROBE";
/// The name the played root test goes by.
const PLAYED: &str = "builds_a_veth_pair_in_a_scratch_namespace";

/// A copy of this test binary that `nobody` can execute, removed on drop
/// (the build directory need not be readable by other users).
struct Copy(PathBuf);

impl Copy {
    /// One folder per test, not only per process: `cargo test` runs the
    /// tests as threads of one process, and one's drop would remove the
    /// other's copy while it runs.
    fn new(test: &str) -> Copy {
        let dir = std::env::temp_dir().join(format!("labyrinth-root-gate-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = Copy(dir);
        std::fs::copy(std::env::current_exe().unwrap(), copy.exe()).unwrap();
        std::fs::set_permissions(copy.exe(), std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    }

    fn exe(&self) -> PathBuf {
        self.0.join("probe")
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `test` of the copy as an unprivileged user, with the gate's
/// variable set to `require` (or unset).
fn run_unprivileged(copy: &Copy, test: &str, probe: &str, require: Option<&str>) -> Output {
    let mut cmd = if root::missing_privilege().is_some() {
        // Already unprivileged: run as ourselves.
        Command::new(copy.exe())
    } else {
        let setpriv = root::tool(test, "setpriv").expect("setpriv is required above");
        let mut c = Command::new(setpriv);
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(copy.exe());
        c
    };
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(PROBE, probe)
        .current_dir(&copy.0);
    match require {
        Some(v) => cmd.env(root::REQUIRE_VAR, v),
        None => cmd.env_remove(root::REQUIRE_VAR),
    };
    cmd.output().expect("running the probe")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Plays the root test when run as the probe; is the check otherwise.
#[test]
fn root_tests_fail_when_root_is_required_and_skip_otherwise() {
    const ME: &str = "root_tests_fail_when_root_is_required_and_skip_otherwise";
    match std::env::var(PROBE).as_deref() {
        Ok("root") => {
            if !root::require(PLAYED) {
                return;
            }
            panic!("the probe kept root's privileges: the privilege drop failed");
        }
        Ok(other) => panic!("unknown {PROBE} value {other:?}"),
        Err(_) => {}
    }
    let copy = Copy::new(ME);

    let out = run_unprivileged(&copy, ME, "root", Some("1"));
    let said = text(&out);
    assert!(!out.status.success(), "required but not root must fail:\n{said}");
    assert!(
        said.contains(&format!("root test `{PLAYED}` cannot run")),
        "{said}"
    );
    assert!(said.contains("running as uid"), "says why:\n{said}");
    assert!(
        said.contains("LABYRINTH_REQUIRE_ROOT=1"),
        "says what demanded it:\n{said}"
    );

    let out = run_unprivileged(&copy, ME, "root", None);
    let said = text(&out);
    assert!(out.status.success(), "not required: skipped, not failed:\n{said}");
    assert!(said.contains("SKIPPED (needs root: running as uid"), "{said}");
    assert!(said.contains(PLAYED), "{said}");

    let out = run_unprivileged(&copy, ME, "root", Some("yes"));
    let said = text(&out);
    assert!(
        !out.status.success(),
        "a value that is not 1 or 0 is refused:\n{said}"
    );
    assert!(said.contains("LABYRINTH_REQUIRE_ROOT must be 1"), "{said}");
}

/// A missing tool is a skip on a workstation and a failure where the full
/// environment is required.
#[test]
fn missing_tools_fail_when_required_and_skip_otherwise() {
    const ME: &str = "missing_tools_fail_when_required_and_skip_otherwise";
    const TOOL: &str = "labyrinth-no-such-tool";
    if std::env::var(PROBE).as_deref() == Ok("tool") {
        assert!(root::tool(PLAYED, TOOL).is_none(), "{TOOL} exists?");
        return;
    }
    let copy = Copy::new(ME);

    let out = run_unprivileged(&copy, ME, "tool", Some("1"));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "root test `{PLAYED}` cannot run: it needs `{TOOL}` on the PATH"
        )),
        "{said}"
    );

    let out = run_unprivileged(&copy, ME, "tool", Some("0"));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("SKIPPED (needs `{TOOL}` on the PATH): {PLAYED}")),
        "{said}"
    );
}
