//! The module graph of one crate, read from its source with `syn`: which
//! module imports which. The workspace test `tests/module_cycles.rs` uses
//! it to hold every crate to "no module imports one that imports it back".
//!
//! What counts as "a imports b":
//! - a `use` of one of b's items (a glob `use b::*` too), or a path to one
//!   of them in code or inside a macro call's tokens, written from
//!   `crate::`, `super::`, `self::`, a child module's name, or a name a
//!   `use` gave to one of the crate's modules;
//! - a path passing through modules (`crate::x::y::f`) imports only the
//!   module it ends in (`y`), not the ones on the way: naming a path does
//!   not run or need the parents' items;
//! - `use crate::x::y;` (or `use super::{self}`) only names the module; the
//!   paths that go on from that name are the imports;
//! - a re-export (`pub use y::Item;`) is a name, not a use: paths to
//!   `x::Item` import `y`, where the item is, and `x` imports `y` only if
//!   its own code uses `Item`. So a crate root that presents its modules'
//!   items is not in a circle with every module that uses `crate::Error`.
//!
//! Declaring a child (`mod b;`) is not an import: a parent owns its
//! children, and that is how every crate is built. A child using its
//! parent's items (`super::X`) is an import of the parent.
//!
//! Code under `#[cfg(test)]` is left out of the graph: a unit-test module
//! imports the module it tests by construction, is never imported back by
//! shipped code, and ships with nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Item, Meta, Token, UseTree};

pub struct Module {
    /// `crate::a::b`.
    pub name: String,
    /// The file the module's items are in (an inline module's is its
    /// parent's).
    pub file: PathBuf,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
}

pub struct ModuleGraph {
    pub modules: Vec<Module>,
    /// (importer, imported) → the first path seen that makes the import.
    pub imports: BTreeMap<(usize, usize), String>,
}

/// Modules that all reach each other through imports, and the imports
/// between them.
#[derive(Debug, PartialEq, Eq)]
pub struct Circle {
    /// Module names, sorted.
    pub modules: Vec<String>,
    /// `importer → imported (path)`, sorted.
    pub imports: Vec<String>,
}

impl std::fmt::Display for Circle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.modules.join(" ⇄ "))?;
        for i in &self.imports {
            writeln!(f, "    {i}")?;
        }
        Ok(())
    }
}

type Reader<'a> = &'a dyn Fn(&Path) -> Option<String>;

impl ModuleGraph {
    /// The graph of the crate whose root file (lib.rs, main.rs, bin/x.rs)
    /// is `root`, reading files from disk.
    pub fn of_crate(root: &Path) -> Result<ModuleGraph> {
        ModuleGraph::build(root, &|p| std::fs::read_to_string(p).ok())
    }

    /// The same, reading the source files through `read`.
    pub fn build(root: &Path, read: Reader) -> Result<ModuleGraph> {
        let mut b = Builder {
            read,
            modules: Vec::new(),
            items: Vec::new(),
            paths: Vec::new(),
            reexports: Vec::new(),
        };
        let items = b.parse(root)?;
        let dir = root.parent().unwrap_or(Path::new("")).to_path_buf();
        b.add("crate".into(), root, None, items, &dir)?;
        for m in 0..b.modules.len() {
            let mut paths = Paths::default();
            for item in &b.items[m] {
                paths.visit_item(item);
            }
            let reexports = paths
                .found
                .iter()
                .filter(|p| p.reexport && !p.glob)
                .map(|p| (p.name.clone(), p.segments.clone()))
                .collect();
            b.paths.push(paths.found);
            b.reexports.push(reexports);
        }
        let mut imports = BTreeMap::new();
        for m in 0..b.modules.len() {
            b.imports_of(m, &mut imports);
        }
        Ok(ModuleGraph {
            modules: b.modules,
            imports,
        })
    }

    /// Every set of two or more modules that import each other, directly or
    /// around a loop (the strongly connected components of the graph).
    pub fn circles(&self) -> Vec<Circle> {
        let n = self.modules.len();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(a, b) in self.imports.keys() {
            next[a].push(b);
        }
        let mut out = Vec::new();
        for component in strongly_connected(&next) {
            if component.len() < 2 {
                continue;
            }
            let mut modules: Vec<String> = component.iter().map(|&m| self.modules[m].name.clone()).collect();
            modules.sort();
            let mut imports: Vec<String> = self
                .imports
                .iter()
                .filter(|((a, b), _)| component.contains(a) && component.contains(b))
                .map(|((a, b), via)| {
                    format!(
                        "{} → {} ({}: `{via}`)",
                        self.modules[*a].name,
                        self.modules[*b].name,
                        self.modules[*a].file.display()
                    )
                })
                .collect();
            imports.sort();
            out.push(Circle { modules, imports });
        }
        out.sort_by(|a, b| a.modules.cmp(&b.modules));
        out
    }
}

struct Builder<'a> {
    read: Reader<'a>,
    modules: Vec<Module>,
    /// Each module's own items: neither its child modules nor test code.
    items: Vec<Vec<Item>>,
    /// Each module's paths, and its re-exports: name → the path it stands for.
    paths: Vec<Vec<Found>>,
    reexports: Vec<HashMap<String, Vec<String>>>,
}

impl Builder<'_> {
    fn parse(&self, file: &Path) -> Result<Vec<Item>> {
        let text = (self.read)(file).with_context(|| format!("reading {}", file.display()))?;
        Ok(syn::parse_file(&text)
            .with_context(|| format!("parsing {}", file.display()))?
            .items)
    }

    /// Add a module and, depth first, its children; `dir` is where its
    /// `mod x;` children's files are.
    fn add(
        &mut self,
        name: String,
        file: &Path,
        parent: Option<usize>,
        items: Vec<Item>,
        dir: &Path,
    ) -> Result<usize> {
        let id = self.modules.len();
        self.modules.push(Module {
            name: name.clone(),
            file: file.to_path_buf(),
            parent,
            children: BTreeMap::new(),
        });
        self.items.push(Vec::new());
        let mut own = Vec::new();
        for item in items {
            if test_only(item_attrs(&item)) {
                continue;
            }
            let Item::Mod(m) = item else {
                own.push(item);
                continue;
            };
            let child = m.ident.to_string();
            let child_name = format!("{name}::{child}");
            let cid = match m.content {
                Some((_, inner)) => self.add(child_name, file, Some(id), inner, &dir.join(&child))?,
                None => {
                    let (child_file, child_dir) = child_file(file, dir, &child, &m.attrs, self.read)?;
                    let inner = self.parse(&child_file)?;
                    self.add(child_name, &child_file, Some(id), inner, &child_dir)?
                }
            };
            self.modules[id].children.insert(child, cid);
        }
        self.items[id] = own;
        Ok(id)
    }

    /// Record what module `m` imports.
    fn imports_of(&self, m: usize, imports: &mut BTreeMap<(usize, usize), String>) {
        let found = &self.paths[m];
        // Names `use` gave to the crate's own modules, for paths that start
        // from them (`use crate::runtime::sandbox;` … `sandbox::create()`),
        // and to items in them, for the re-exported ones this module's own
        // code uses.
        let mut aliases = HashMap::new();
        let mut items = HashMap::new();
        for p in found.iter().filter(|p| p.from_use && !p.glob) {
            match self.resolve(m, &p.segments, &HashMap::new(), 0) {
                Some((target, true)) => aliases.insert(p.name.clone(), target),
                Some((target, false)) => items.insert(p.name.clone(), target),
                None => None,
            };
        }
        for p in found {
            let resolved = if p.from_use {
                if p.reexport && !p.glob {
                    continue;
                }
                self.resolve(m, &p.segments, &aliases, 0)
            } else if let Some(&target) = items.get(&p.segments[0]) {
                Some((target, false))
            } else if p.segments.len() < 2 {
                // Any other lone name in code is a local value or type.
                continue;
            } else {
                self.resolve(m, &p.segments, &aliases, 0)
            };
            let Some((target, whole)) = resolved else {
                continue;
            };
            if target == m || (p.from_use && whole && !p.glob) {
                continue;
            }
            imports
                .entry((m, target))
                .or_insert_with(|| p.segments.join("::") + if p.glob { "::*" } else { "" });
        }
    }

    /// The module a path from module `m` ends in, and whether the whole
    /// path is modules (it names a module rather than an item in one).
    /// None for paths outside the crate.
    fn resolve(
        &self,
        m: usize,
        segments: &[String],
        aliases: &HashMap<String, usize>,
        depth: usize,
    ) -> Option<(usize, bool)> {
        let (mut cur, rest) = match segments[0].as_str() {
            "crate" => (0, &segments[1..]),
            "self" => (m, &segments[1..]),
            "super" => {
                let mut cur = m;
                let mut i = 0;
                while segments.get(i).map(String::as_str) == Some("super") {
                    cur = self.modules[cur].parent?;
                    i += 1;
                }
                (cur, &segments[i..])
            }
            first => match self.modules[m].children.get(first).or_else(|| aliases.get(first)) {
                Some(&start) => (start, &segments[1..]),
                None => return None,
            },
        };
        for s in rest {
            if let Some(&c) = self.modules[cur].children.get(s) {
                cur = c;
                continue;
            }
            // An item `cur` re-exports: where it really is (None when it
            // comes from outside the crate). The depth bounds a loop of
            // re-exports, which rustc refuses anyway.
            let Some(target) = self.reexports[cur].get(s).filter(|_| depth < 16) else {
                return Some((cur, false));
            };
            match self.resolve(cur, target, &HashMap::new(), depth + 1)? {
                (module, true) => cur = module,
                (module, false) => return Some((module, false)),
            }
        }
        Some((cur, true))
    }
}

/// Where `mod child;` declared in `file` (whose children live in `dir`)
/// has its source, and where that module's own children live.
fn child_file(
    file: &Path,
    dir: &Path,
    child: &str,
    attrs: &[syn::Attribute],
    read: Reader,
) -> Result<(PathBuf, PathBuf)> {
    let below = |f: &Path| -> PathBuf {
        if f.file_name().is_some_and(|n| n == "mod.rs") {
            f.parent().unwrap_or(Path::new("")).to_path_buf()
        } else {
            f.with_extension("")
        }
    };
    for a in attrs {
        if let Meta::NameValue(nv) = &a.meta {
            if nv.path.is_ident("path") {
                let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) = &nv.value
                else {
                    bail!(
                        "{}: `mod {child}` has a #[path] that is not a string",
                        file.display()
                    );
                };
                let f = file.parent().unwrap_or(Path::new("")).join(s.value());
                let d = below(&f);
                return Ok((f, d));
            }
        }
    }
    let flat = dir.join(format!("{child}.rs"));
    let nested = dir.join(child).join("mod.rs");
    if read(&flat).is_some() {
        Ok((flat, dir.join(child)))
    } else if read(&nested).is_some() {
        Ok((nested, dir.join(child)))
    } else {
        bail!(
            "{}: `mod {child};` has no file ({} or {})",
            file.display(),
            flat.display(),
            nested.display()
        )
    }
}

/// Whether `#[cfg(test)]` (or `#[cfg(all(test, …))]`) keeps an item out of
/// the shipped crate.
fn test_only(attrs: &[syn::Attribute]) -> bool {
    fn needs_test(meta: &Meta) -> bool {
        match meta {
            Meta::Path(p) => p.is_ident("test"),
            Meta::List(l) if l.path.is_ident("all") => l
                .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
                .is_ok_and(|all| all.iter().any(needs_test)),
            _ => false,
        }
    }
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.parse_args::<Meta>().is_ok_and(|m| needs_test(&m)))
}

fn item_attrs(item: &Item) -> &[syn::Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// A path written in a module.
struct Found {
    segments: Vec<String>,
    /// The name it binds, for a `use` (the last segment, or its `as`).
    name: String,
    from_use: bool,
    /// A `pub use` (any `pub(…)` too): a name this module gives others.
    reexport: bool,
    glob: bool,
}

#[derive(Default)]
struct Paths {
    found: Vec<Found>,
    /// Whether the `use` being read is a re-export.
    public: bool,
}

impl Paths {
    fn code_path(&mut self, segments: Vec<String>) {
        if !segments.is_empty() {
            self.found.push(Found {
                name: String::new(),
                segments,
                from_use: false,
                reexport: false,
                glob: false,
            });
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &UseTree) {
        let reexport = self.public;
        let mut add = |segments: Vec<String>, name: String, glob: bool| {
            if !segments.is_empty() {
                self.found.push(Found {
                    segments,
                    name,
                    from_use: true,
                    reexport,
                    glob,
                })
            }
        };
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            UseTree::Name(n) if n.ident == "self" => {
                let name = prefix.last().cloned().unwrap_or_default();
                add(prefix.clone(), name, false)
            }
            UseTree::Name(n) => {
                let mut s = prefix.clone();
                s.push(n.ident.to_string());
                add(s, n.ident.to_string(), false)
            }
            UseTree::Rename(r) => {
                let mut s = prefix.clone();
                if r.ident != "self" {
                    s.push(r.ident.to_string());
                }
                add(s, r.rename.to_string(), false)
            }
            UseTree::Glob(_) => add(prefix.clone(), String::new(), true),
            UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    /// Paths in a macro call's tokens (`name::name…` runs), which `syn`
    /// cannot parse as code without knowing the macro.
    fn tokens(&mut self, tokens: TokenStream) {
        let mut run: Vec<String> = Vec::new();
        let mut colons = 0;
        for t in tokens {
            match t {
                TokenTree::Ident(i) => {
                    if colons != 2 && !run.is_empty() {
                        self.code_path(std::mem::take(&mut run));
                    }
                    run.push(i.to_string());
                    colons = 0;
                }
                TokenTree::Punct(p) if p.as_char() == ':' && !run.is_empty() => {
                    colons += 1;
                    if colons == 1 && p.spacing() != Spacing::Joint {
                        self.code_path(std::mem::take(&mut run));
                        colons = 0;
                    }
                }
                TokenTree::Group(g) => {
                    self.code_path(std::mem::take(&mut run));
                    colons = 0;
                    self.tokens(g.stream());
                }
                _ => {
                    self.code_path(std::mem::take(&mut run));
                    colons = 0;
                }
            }
        }
        self.code_path(run);
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.public = !matches!(u.vis, syn::Visibility::Inherited);
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.code_path(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
        // A `macro_rules!` body imports nothing where it is written; its
        // `$crate::…` paths belong to wherever it is expanded.
        if m.ident.is_none() {
            self.visit_macro(&m.mac);
        }
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`: who may see an item, not an import.
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // A module inside a function body: not part of this graph.
    }
}

/// Tarjan's algorithm: the strongly connected components of a graph given
/// as each node's successors.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        next: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for i in 0..s.next[v].len() {
            let w = s.next[v][i];
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let n = next.len();
    let mut s = State {
        next,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests;
