use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

/// The graph of a crate made of `files` (path → source), rooted at lib.rs.
fn graph(files: &[(&str, &str)]) -> Result<ModuleGraph> {
    let files: HashMap<PathBuf, String> = files
        .iter()
        .map(|(p, s)| (Path::new("src").join(p), s.to_string()))
        .collect();
    ModuleGraph::build(Path::new("src/lib.rs"), &|p| files.get(p).cloned())
}

fn imports(g: &ModuleGraph) -> Vec<(String, String)> {
    g.imports
        .keys()
        .map(|&(a, b)| (g.modules[a].name.clone(), g.modules[b].name.clone()))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn a_parent_declaring_children_is_no_import_but_a_child_using_its_parent_is() {
    let g = graph(&[
        ("lib.rs", "pub mod a;\npub struct Shared;"),
        ("a.rs", "mod b;\npub fn start() {}"),
        ("a/b.rs", "use super::start;\nfn f(_: crate::Shared) { start() }"),
    ])
    .unwrap();
    assert_eq!(
        imports(&g),
        vec![pair("crate::a::b", "crate"), pair("crate::a::b", "crate::a")]
    );
    assert!(g.circles().is_empty());
}

#[test]
fn a_parent_starting_a_child_that_uses_the_parent_is_a_circle() {
    // The shape of the agent's old kubelet/mod.rs and kubelet/node.rs.
    let g = graph(&[
        ("lib.rs", "pub mod kubelet;"),
        (
            "kubelet/mod.rs",
            "mod node;\npub struct Agent;\npub fn run(a: &Agent) { node::register(a) }",
        ),
        (
            "kubelet/node.rs",
            "use super::Agent;\npub fn register(_: &Agent) {}",
        ),
    ])
    .unwrap();
    let circles = g.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert_eq!(circles[0].modules, ["crate::kubelet", "crate::kubelet::node"]);
    assert_eq!(circles[0].imports.len(), 2, "{}", circles[0]);
    assert!(
        circles[0].imports[0].contains("`node::register`"),
        "{}",
        circles[0]
    );
}

#[test]
fn finds_a_loop_through_three_modules_and_names_each_import() {
    let g = graph(&[
        ("lib.rs", "mod x; mod y; mod z;"),
        ("x.rs", "pub fn f() { crate::y::g() }"),
        ("y.rs", "use crate::z::H;\npub fn g() { let _ = H; }"),
        (
            "z.rs",
            "pub const H: u8 = 0;\nfn k() { let _ = format!(\"{}\", crate::x::f()); }",
        ),
    ])
    .unwrap();
    let circles = g.circles();
    assert_eq!(circles.len(), 1);
    assert_eq!(circles[0].modules, ["crate::x", "crate::y", "crate::z"]);
    let text = circles[0].to_string();
    assert!(
        text.contains("crate::z → crate::x (src/z.rs: `crate::x::f`)"),
        "{text}"
    );
    assert!(text.contains("crate::y → crate::z"), "{text}");
}

#[test]
fn unit_tests_importing_their_module_are_not_a_circle() {
    let g = graph(&[
        (
            "lib.rs",
            "mod a;\nfn helper() {}\n#[cfg(test)]\nmod tests { use super::*; }",
        ),
        (
            "a.rs",
            "pub fn f() {}\n#[cfg(all(test, unix))]\nmod tests { use super::f; fn t() { crate::a::f() } }",
        ),
    ])
    .unwrap();
    assert!(g.circles().is_empty());
    assert!(g.modules.iter().all(|m| !m.name.ends_with("tests")));
    // `cfg(not(test))` code ships, so it counts.
    let g = graph(&[
        ("lib.rs", "mod a;\npub fn g() { a::f() }"),
        ("a.rs", "#[cfg(not(test))]\npub fn f() { super::g() }"),
    ])
    .unwrap();
    assert_eq!(g.circles().len(), 1);
}

#[test]
fn naming_a_module_is_not_an_import_of_it_but_paths_from_the_name_are() {
    let g = graph(&[
        ("lib.rs", "pub mod rt; mod user;"),
        ("rt/mod.rs", "pub mod sandbox;"),
        ("rt/sandbox.rs", "pub fn create() {}"),
        (
            "user.rs",
            "use crate::rt::{self, sandbox as sb};\nfn f() { sb::create(); let _ = rt::sandbox::create; }",
        ),
    ])
    .unwrap();
    assert_eq!(imports(&g), vec![pair("crate::user", "crate::rt::sandbox")]);
}

#[test]
fn visibility_and_macro_definitions_are_not_imports_but_macro_calls_are() {
    let g = graph(&[
        ("lib.rs", "mod a; mod b;\npub(crate) fn top() {}"),
        (
            "a.rs",
            "pub(crate) fn f() {}\npub(super) struct S;\nmacro_rules! m { () => { $crate::b::g() } }",
        ),
        (
            "b.rs",
            "pub fn g() { tokio::select! { _ = crate::a::f() => {} } }",
        ),
    ])
    .unwrap();
    assert_eq!(imports(&g), vec![pair("crate::b", "crate::a")]);
}

#[test]
fn glob_imports_of_a_parent_count() {
    let g = graph(&[
        ("lib.rs", "mod p;"),
        ("p/mod.rs", "mod c;\npub struct T;\nfn f() { c::g() }"),
        ("p/c.rs", "use super::*;\npub fn g() -> T { T }"),
    ])
    .unwrap();
    let circles = g.circles();
    assert_eq!(circles.len(), 1);
    assert!(circles[0].to_string().contains("`super::*`"), "{}", circles[0]);
}

#[test]
fn path_attributes_and_nested_inline_modules_are_followed() {
    let g = graph(&[
        ("lib.rs", "mod a;\nmod inline { pub mod deep; }"),
        ("a.rs", "#[path = \"a_extra.rs\"]\nmod extra;"),
        ("a_extra.rs", "fn f() { crate::inline::deep::g() }"),
        ("inline/deep.rs", "pub fn g() {}"),
    ])
    .unwrap();
    assert_eq!(imports(&g), vec![pair("crate::a::extra", "crate::inline::deep")]);
}

#[test]
fn a_missing_module_file_or_bad_source_is_a_clear_error() {
    let err = graph(&[("lib.rs", "mod gone;")]).err().unwrap();
    let text = format!("{err:#}");
    assert!(
        text.contains("`mod gone;` has no file (src/gone.rs or src/gone/mod.rs)"),
        "{text}"
    );
    let err = graph(&[("lib.rs", "mod a;"), ("a.rs", "fn (")]).err().unwrap();
    assert!(format!("{err:#}").contains("parsing src/a.rs"), "{err:#}");
}

#[test]
fn a_crate_root_presenting_its_modules_is_not_in_a_circle_with_them() {
    // The shape of labyrinth-netlink: lib.rs re-exports, modules use
    // `crate::Error` and `crate::Handle`.
    let g = graph(&[
        (
            "lib.rs",
            "mod error; mod handle; mod link;\npub use error::Error;\npub use handle::Handle;",
        ),
        ("error.rs", "pub struct Error;"),
        (
            "handle.rs",
            "pub struct Handle;\nfn f() -> crate::Error { crate::Error }",
        ),
        (
            "link.rs",
            "use crate::Handle;\nfn g(_: Handle) -> Result<(), crate::Error> { Ok(()) }",
        ),
    ])
    .unwrap();
    assert_eq!(
        imports(&g),
        vec![
            pair("crate::handle", "crate::error"),
            pair("crate::link", "crate::error"),
            pair("crate::link", "crate::handle"),
        ]
    );
}

#[test]
fn a_re_export_the_module_uses_itself_is_an_import() {
    let g = graph(&[
        ("lib.rs", "mod a;"),
        (
            "a/mod.rs",
            "mod id;\npub use id::Identity;\npub fn who() -> Identity { Identity::Admin }",
        ),
        ("a/id.rs", "pub enum Identity { Admin }\nfn f() { super::who(); }"),
    ])
    .unwrap();
    assert_eq!(g.circles().len(), 1, "{:?}", imports(&g));
}
