//! Compile every bpf/*.c entry file into an eBPF object with clang
//! (`-target bpf -O2 -g`, so the objects carry BTF for the maps), from
//! source on every build. The objects land in OUT_DIR and are embedded.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    check_clang(&clang);
    check_header("/usr/include/bpf/bpf_helpers.h", "libbpf-dev");
    check_header("/usr/include/linux/bpf.h", "linux-libc-dev");
    let multiarch = multiarch_include();

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading crates/ebpf/bpf")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for lib in std::fs::read_dir(dir.join("lib")).expect("reading bpf/lib") {
        println!("cargo:rerun-if-changed={}", lib.unwrap().path().display());
    }
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let obj = out.join(src.file_stem().unwrap()).with_extension("o");
        compile(&clang, src, &obj, &dir, &multiarch);
    }
}

fn compile(clang: &str, src: &Path, obj: &Path, dir: &Path, multiarch: &str) {
    let output = Command::new(clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        // Linux's uapi headers include <asm/types.h> from the multiarch dir.
        .arg(format!("-I{multiarch}"))
        .arg(format!("-I{}", dir.display()))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(obj)
        .output()
        .unwrap_or_else(|e| panic!("running {clang}: {e}"));
    if !output.status.success() {
        panic!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn check_clang(clang: &str) {
    match Command::new(clang).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "\n\nlabyrinth-ebpf needs clang to compile its eBPF programs (bpf/*.c), \
             and `{clang} --version` did not run.\nInstall it with scripts/install-deps.sh \
             (Debian: apt-get install clang llvm libbpf-dev), or point CLANG at a clang binary.\n\n"
        ),
    }
}

fn check_header(path: &str, package: &str) {
    if !Path::new(path).exists() {
        panic!("\n\nlabyrinth-ebpf needs {path} (Debian package {package}); run scripts/install-deps.sh\n\n");
    }
}

/// /usr/include/<triplet>, where Debian keeps asm/ for the build machine.
fn multiarch_include() -> String {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let triplet = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        other => panic!("labyrinth-ebpf: no multiarch include dir known for {other}"),
    };
    format!("/usr/include/{triplet}")
}
