//! The plugin executable runtimes call (`type: "labyrinth-cni"`).
fn main() {
    std::process::exit(labyrinth_cni::plugin_main());
}
