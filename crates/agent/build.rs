//! Compile pause/pause.c, the pod sandbox's process, into a static binary
//! without a libc (see the file for why); the agent embeds it and installs
//! it on the node at start.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("pause/pause.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("labyrinth-pause");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let triplet = match std::env::var("CARGO_CFG_TARGET_ARCH")
        .unwrap_or_default()
        .as_str()
    {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => panic!("labyrinth-agent: pause.c has no syscall glue for {other}"),
    };
    let output = Command::new(&clang)
        .args([
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-static",
            "-nostdlib",
            "-ffreestanding",
        ])
        .args([
            "-fno-stack-protector",
            "-fno-pic",
            "-fno-asynchronous-unwind-tables",
            "-s",
        ])
        // Linux's uapi headers include <asm/...> from the multiarch dir.
        .arg(format!("-I/usr/include/{triplet}"))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| {
            panic!("\n\nlabyrinth-agent needs clang (run scripts/install-deps.sh, or set CLANG): {e}\n\n")
        });
    if !output.status.success() {
        panic!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
