//! No module of any crate in the workspace imports a module that imports it
//! back, directly or around a loop (what counts as an import: see
//! `labyrinth_testkit::modgraph`). Every library and binary root under
//! crates/*/src is read.

use std::path::{Path, PathBuf};

use labyrinth_testkit::modgraph::ModuleGraph;

/// Circles another branch is removing, by crate directory and module
/// names as the report prints them. Each must still be a circle (a fixed
/// one left here fails the test, so the list only shrinks): once the
/// branch reworking the agent's runtime/ is merged, empty it.
const BEING_REMOVED: &[(&str, &[&str])] = &[
    (
        "agent",
        &["crate::runtime", "crate::runtime::cni", "crate::runtime::files"],
    ),
    ("agent", &["crate::runtime::container", "crate::runtime::sandbox"]),
];

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
    let mut expected_gone = Vec::new();
    let mut modules = 0;
    for root in &roots {
        let graph = ModuleGraph::of_crate(root).unwrap_or_else(|e| panic!("{}: {e:#}", root.display()));
        modules += graph.modules.len();
        let krate = root
            .ancestors()
            .nth(2)
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let circles = graph.circles();
        for (k, names) in BEING_REMOVED {
            if *k == krate && root.ends_with("src/lib.rs") && !circles.iter().any(|c| c.modules == *names) {
                expected_gone.push(format!("{k}: {}", names.join(" ⇄ ")));
            }
        }
        for c in circles {
            if BEING_REMOVED
                .iter()
                .any(|(k, names)| *k == krate && c.modules == *names)
            {
                continue;
            }
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
        expected_gone.is_empty(),
        "no longer circles, take them out of BEING_REMOVED: {expected_gone:?}"
    );
    assert!(
        found.is_empty(),
        "{} import circle(s):\n{}",
        found.len(),
        found.join("\n")
    );
}
