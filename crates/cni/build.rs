//! Compile native/cni-shim.c, what a node's /opt/cni/bin/labyrinth-cni is
//! when a node agent runs there (see the file); and tell dependents (the
//! agent's pause program) where the shared freestanding header is.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("native");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("labyrinth-cni-shim");
    labyrinth_native_build::compile(&dir.join("cni-shim.c"), &out, &[&dir]);
    // Read by dependents' build scripts as DEP_LABYRINTH_NATIVE_INCLUDE.
    println!("cargo:include={}", dir.display());
}
