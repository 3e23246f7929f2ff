//! Compile native/pause.c (the pod sandbox's process) and native/crilog.c
//! (a container's log writer) into static binaries without a libc; the
//! agent embeds them and installs them on the node at start.

use std::path::PathBuf;

fn main() {
    let native = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("native");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // freestanding.h, from labyrinth-cni (its `links` metadata).
    let include = PathBuf::from(
        std::env::var("DEP_LABYRINTH_NATIVE_INCLUDE")
            .expect("labyrinth-cni's build script gives the header dir"),
    );
    for (src, bin) in [("pause.c", "labyrinth-pause"), ("crilog.c", "labyrinth-crilog")] {
        labyrinth_native_build::compile(&native.join(src), &out.join(bin), &[&include]);
    }
}
