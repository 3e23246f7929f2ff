//! No module of any crate in the workspace imports a module that imports it
//! back, directly or around a loop (what counts as an import: see
//! `labyrinth_testkit::modgraph`). Every library and binary root under
//! crates/*/src is read.

use std::path::{Path, PathBuf};

use labyrinth_testkit::modgraph::ModuleGraph;

/// The crate roots (lib.rs, main.rs, bin/*.rs) of every workspace crate;
/// of another checkout's with `LABYRINTH_CRATES_DIR=<its crates/>` (to see
/// what the test finds there).
fn crate_roots() -> Vec<PathBuf> {
    let crates = std::env::var_os("LABYRINTH_CRATES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let mut roots = Vec::new();
    for dir in std::fs::read_dir(&crates).expect("listing crates/") {
        let src = dir.expect("crates/ entry").path().join("src");
        for name in ["lib.rs", "main.rs"] {
            if src.join(name).is_file() {
                roots.push(src.join(name));
            }
        }
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            for bin in bins {
                let p = bin.expect("bin/ entry").path();
                if p.extension().is_some_and(|e| e == "rs") {
                    roots.push(p);
                }
            }
        }
    }
    roots.sort();
    roots
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let roots = crate_roots();
    assert!(
        roots.iter().any(|r| r.ends_with("agent/src/lib.rs")),
        "found no agent crate among {roots:?}"
    );
    let mut found = Vec::new();
    let mut modules = 0;
    for root in &roots {
        let graph = ModuleGraph::of_crate(root).unwrap_or_else(|e| panic!("{}: {e:#}", root.display()));
        modules += graph.modules.len();
        for c in graph.circles() {
            found.push(format!("{} — {c}", root.display()));
        }
    }
    // Every crate's modules were read, not just its root.
    assert!(
        modules > 4 * roots.len(),
        "{modules} modules in {} crate roots",
        roots.len()
    );
    assert!(
        found.is_empty(),
        "{} import circle(s):\n{}",
        found.len(),
        found.join("\n")
    );
}
