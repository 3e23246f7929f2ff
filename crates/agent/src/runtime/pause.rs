//! The pod sandbox's process, in the role of the pause container: a small
//! static program (native/pause.c, compiled by build.rs) that makes the pod's
//! network, UTS, IPC and mount namespaces and then only waits; the same
//! program, `enter`ing a pod, is the process of a container that has no
//! command. Not our Rust binary: a node starts it once or twice per pod, and
//! without a libc a start is an exec and nothing more.

use std::path::Path;

use anyhow::Result;

/// The program's bytes, installed on the node by [`install`].
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/labyrinth-pause"));

/// Put the program at `path` (see [`super::program::install`]).
pub fn install(path: &Path) -> Result<()> {
    super::program::install(path, PROGRAM)
}

/// The error a failed `sandbox` reported ("error STEP: ERRNO"), in words.
pub fn error_text(line: &str) -> String {
    let Some(rest) = line.trim().strip_prefix("error ") else {
        return "the pause process exited before it was ready".into();
    };
    match rest.rsplit_once(": ") {
        Some((step, errno)) => match errno.parse::<i32>() {
            Ok(n) => format!("{step}: {}", std::io::Error::from_raw_os_error(n)),
            Err(_) => rest.to_string(),
        },
        None => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_step_and_the_errno_in_words() {
        assert_eq!(
            error_text("error showing the pod's file at /etc/hosts: 2\n"),
            "showing the pod's file at /etc/hosts: No such file or directory (os error 2)"
        );
        assert_eq!(error_text(""), "the pause process exited before it was ready");
    }

    #[test]
    fn a_container_root_layers_every_copy_on_write_dir_of_the_node() {
        // native/pause.c names them itself (no libc, no list passed in).
        let source = include_str!("../../native/pause.c");
        // /root too, though over an empty folder rather than the node's
        // (the host's home of root, not a container's).
        for dir in labyrinth_contracts::node::MACHINE_DIRS {
            let how = if dir == "root" { "fresh" } else { "layer" };
            let line = format!("{how}(root, \"/{dir}\", \"{dir}\");");
            assert!(source.contains(&line), "pause.c lacks {line}");
        }
    }

    #[test]
    fn a_container_root_hides_every_private_dir_of_the_node() {
        let source = include_str!("../../native/pause.c");
        let start = source.find("static const char *const hidden[] = {").unwrap();
        let list = &source[start..start + source[start..].find("};").unwrap()];
        for dir in labyrinth_contracts::node::NODE_PRIVATE_DIRS {
            let entry = format!("\"/{dir}\"");
            assert!(list.contains(&entry), "pause.c's hidden[] lacks {entry}");
        }
        assert_eq!(
            list.matches('"').count(),
            2 * labyrinth_contracts::node::NODE_PRIVATE_DIRS.len()
        );
        assert!(source.contains("hide(root, hidden[i]);"));
        // The lab's binary, which containers run, is shown again under
        // the hidden top-level folders.
        let link = format!("\"{}/labyrinth\"", labyrinth_contracts::node::BIN_DIR);
        assert!(source.contains(&link), "pause.c lacks {link}");
    }

    #[test]
    fn the_program_is_a_static_executable() {
        // ELF, and no interpreter: nothing runs before our _start.
        assert_eq!(&PROGRAM[..4], b"\x7fELF");
        assert!(!PROGRAM.windows(8).any(|w| w == b"ld-linux"));
    }
}
