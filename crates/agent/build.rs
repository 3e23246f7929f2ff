//! Compile native/pause.c, the pod sandbox's process, into a static binary
//! without a libc; the agent embeds it and installs it on the node at start.

use std::path::PathBuf;

fn main() {
    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("native/pause.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("labyrinth-pause");
    // freestanding.h, from labyrinth-cni (its `links` metadata).
    let include = PathBuf::from(
        std::env::var("DEP_LABYRINTH_NATIVE_INCLUDE")
            .expect("labyrinth-cni's build script gives the header dir"),
    );
    labyrinth_native_build::compile(&src, &out, &[&include]);
}
