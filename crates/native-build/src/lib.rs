//! For build scripts: compile one of our small C programs into a static
//! binary without a libc (see crates/cni/native/freestanding.h for why),
//! with clang (`CLANG` overrides which).

use std::path::Path;
use std::process::Command;

/// Compile `src` to `out`, with `include` dirs on the header path. Panics
/// (failing the build) with clang's output on error.
pub fn compile(src: &Path, out: &Path, include: &[&Path]) {
    println!("cargo:rerun-if-changed={}", src.display());
    for dir in include {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let triplet = match std::env::var("CARGO_CFG_TARGET_ARCH")
        .unwrap_or_default()
        .as_str()
    {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => panic!("{}: no syscall glue for {other}", src.display()),
    };
    let mut cmd = Command::new(&clang);
    cmd.args([
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
        "-fno-builtin",
        "-s",
    ])
    // Linux's uapi headers include <asm/...> from the multiarch dir.
    .arg(format!("-I/usr/include/{triplet}"));
    for dir in include {
        cmd.arg(format!("-I{}", dir.display()));
    }
    let output = cmd.arg(src).arg("-o").arg(out).output().unwrap_or_else(|e| {
        panic!(
            "\n\nbuilding {} needs clang (run scripts/install-deps.sh, or set CLANG): {e}\n\n",
            src.display()
        )
    });
    if !output.status.success() {
        panic!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
