//! Link the binary position-dependent (`-no-pie`). It is exec'd per pod as
//! the CNI plugin, and a PIE of this size makes
//! the dynamic loader apply ~53,000 relocations (and dirty the pages they
//! sit on) at every start: a third of a millisecond of CPU per exec, once
//! per pod. The reference CNI plugins (Go) are position-dependent too.
fn main() {
    println!("cargo:rustc-link-arg-bin=labyrinth=-no-pie");
}
