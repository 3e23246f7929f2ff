//! Issue 14, acceptance 7: the README, the pages under docs/, every `--help`
//! text of the binary and every source file (tests included) name only files
//! inside the repository. A fresh clone has nothing beside it: a link to
//! `../something`, a path of the machine the code was written on, or a
//! document that only exists elsewhere is a dead reference there.
//!
//! Needs no root and no lab. This file is left out of the source scan: it
//! spells the patterns it looks for.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use pulldown_cmark::{Event, Parser, Tag};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Prefixes of absolute paths that can only be the build machine's (a
/// user's home, root's home, this project's work area), and pieces that
/// reach out of the repository.
const OUTSIDE: &[&str] = &["/work/", "/home/", "/root/", "../shared", "shared/examples"];

/// The repository's top-level entries (less what .gitignore leaves out and
/// .git), so that `crates/…`, `examples/…` or `.ci/run` in a text can be
/// recognised as repository paths and checked.
fn top_level(root: &Path) -> BTreeSet<String> {
    let ignored: BTreeSet<String> = std::fs::read_to_string(root.join(".gitignore"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix('/'))
        .filter(|l| !l.contains('*'))
        .map(str::to_string)
        .collect();
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git" && !ignored.contains(n) && !n.starts_with("target"))
        .collect()
}

/// `a/./b/../c` → `a/c`, without touching the file system; `None` when the
/// path climbs above `base`'s root.
fn normalize(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// Words of a text as paths would appear in it: split at whitespace and at
/// the punctuation prose and shell put around them (not at braces: format
/// strings such as `/proc/{}/root/{}` stay one word).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || "()[]<>,;\"'`|=".contains(c))
        .map(|w| w.trim_end_matches(['.', ':', '!', '?']))
        .filter(|w| !w.is_empty())
}

/// What is wrong with one word of a text found in `dir` (a document's folder,
/// or the repository for help texts and sources), if anything.
fn check_word(root: &Path, tops: &BTreeSet<String>, dir: &Path, word: &str) -> Option<String> {
    if word.contains("://") {
        return None;
    }
    if let Some(p) = OUTSIDE
        .iter()
        .find(|p| word.starts_with(*p) || (p.starts_with('.') && word.contains(*p)))
    {
        return Some(format!("{word:?} names a place outside the repository ({p})"));
    }
    if word.contains("MISSION") {
        return Some(format!(
            "{word:?}: the mission is docs/mission.md in this repository"
        ));
    }
    // Repository paths: checked up to the first placeholder or glob.
    let first = word.trim_start_matches("./").split('/').next().unwrap_or("");
    let repo_path = tops.contains(first) && (word.contains('/') || first == word.trim_start_matches("./"));
    let doc = word.ends_with(".md") && !word.starts_with('/');
    if repo_path || doc {
        let stem = word
            .split(['*', '<', '…'])
            .next()
            .unwrap_or(word)
            .trim_start_matches("./");
        let found = [root, dir]
            .iter()
            .filter_map(|base| normalize(base, stem))
            .any(|p| p.starts_with(root) && p.exists());
        if !found {
            return Some(format!("{word:?} is not a file of the repository"));
        }
    }
    None
}

/// Every problem in one markdown document: link targets that do not resolve
/// inside the repository, and words of its text and code that name files
/// outside it or repository files that do not exist.
fn check_markdown(root: &Path, tops: &BTreeSet<String>, doc: &Path, text: &str) -> (usize, Vec<String>) {
    let dir = doc.parent().unwrap();
    let mut links = 0;
    let mut bad = Vec::new();
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                links += 1;
                let dest = dest_url.as_ref();
                if dest.contains("://") || dest.starts_with("mailto:") || dest.starts_with('#') {
                    continue;
                }
                let path = dest.split('#').next().unwrap();
                match normalize(dir, path) {
                    Some(p) if p.starts_with(root) && p.exists() => {}
                    _ => bad.push(format!("link ({dest}) does not resolve inside the repository")),
                }
            }
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                bad.extend(words(&t).filter_map(|w| check_word(root, tops, dir, w)));
            }
            _ => {}
        }
    }
    let name = doc.strip_prefix(root).unwrap_or(doc).display().to_string();
    (links, bad.into_iter().map(|b| format!("{name}: {b}")).collect())
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

#[test]
fn readme_and_docs_name_only_repository_files() {
    let root = repo();
    let tops = top_level(&root);
    let mut links = 0;
    let mut bad = Vec::new();
    for doc in documents(&root) {
        let text = std::fs::read_to_string(&doc).unwrap();
        let (n, b) = check_markdown(&root, &tops, &doc, &text);
        links += n;
        bad.extend(b);
    }
    assert!(bad.is_empty(), "dead or outside references:\n{}", bad.join("\n"));
    // The README links to docs/mission.md and docs/performance.md at least.
    assert!(
        links >= 2,
        "only {links} links found: is the parser reading the files?"
    );
}

/// `labyrinth <path…> --help`, and the subcommands it lists.
fn help_tree(exe: &str, path: Vec<String>, out: &mut Vec<(String, String)>) {
    let o = Command::new(exe).args(&path).arg("--help").output().unwrap();
    assert!(
        o.status.success(),
        "{path:?} --help failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let subcommands: Vec<String> = text
        .split("\nCommands:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|l| !l.trim().is_empty())
                // A command's line starts two spaces in; wrapped descriptions further.
                .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.push((format!("labyrinth {}", path.join(" ")), text));
    for c in subcommands {
        let mut p = path.clone();
        p.push(c);
        help_tree(exe, p, out);
    }
}

#[test]
fn every_help_text_names_only_repository_files() {
    let root = repo();
    let tops = top_level(&root);
    let mut helps = Vec::new();
    help_tree(env!("CARGO_BIN_EXE_labyrinth"), Vec::new(), &mut helps);
    let commands: Vec<&str> = helps.iter().map(|(c, _)| c.as_str()).collect();
    // The walk reached the nested commands (lab up, bpf map get, …).
    for want in [
        "labyrinth lab up",
        "labyrinth journey",
        "labyrinth bpf map get",
        "labyrinth netexec dial",
    ] {
        assert!(
            commands.contains(&want),
            "{want} not visited; visited {commands:?}"
        );
    }
    let bad: Vec<String> = helps
        .iter()
        .flat_map(|(cmd, text)| {
            words(text)
                .filter_map(|w| check_word(&root, &tops, &root, w))
                .map(move |b| format!("{cmd} --help: {b}"))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Places where an absolute path of the OUTSIDE kind is right: it names a
/// path inside a lab node, not on the machine running the code.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "crates/lab/src/cluster.rs",
        "/root/.kube",
        "the control node's own /root (a per-node overlay, see lab/src/sandbox.rs), where kubeadm leaves the admin kubeconfig",
    ),
    (
        "crates/labyrinth/tests/isolation.rs",
        "/root/",
        "a control node's /root (its admin kubeconfig, which no pod may see) and a pod's own /root",
    ),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if (name != "target" && !name.starts_with('.')) || name == ".ci" {
                sources(&p, out);
            }
        } else if p
            .extension()
            .is_some_and(|e| e == "rs" || e == "sh" || e == "c" || e == "h" || e == "toml")
            || p.parent().and_then(Path::file_name).is_some_and(|d| d == ".ci")
        {
            out.push(p);
        }
    }
}

#[test]
fn sources_and_tests_name_only_repository_files() {
    let root = repo();
    let tops = top_level(&root);
    let mut files = Vec::new();
    for top in &tops {
        let p = root.join(top);
        if p.is_dir() {
            sources(&p, &mut files);
        } else if top.ends_with(".sh") || top.ends_with(".toml") {
            files.push(p);
        }
    }
    let me = Path::new(file!()).file_name().unwrap();
    files.retain(|f| f.file_name() != Some(me));
    assert!(
        files.len() > 100,
        "only {} source files found under {}",
        files.len(),
        root.display()
    );
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for w in words(line) {
                let allowed = ALLOWED
                    .iter()
                    .any(|(file, pat, _)| rel == *file && w.starts_with(pat));
                if allowed {
                    continue;
                }
                // Sources name repository files relative to the root (or to
                // their own folder), and Cargo/rustc paths like
                // `../netlink` are crate folders: only the OUTSIDE words and
                // missing documents are errors here.
                let dir = f.parent().unwrap();
                let problem = check_word(&root, &tops, dir, w).filter(|_| {
                    OUTSIDE.iter().any(|o| w.contains(o)) || w.contains("MISSION") || w.ends_with(".md")
                });
                if let Some(p) = problem {
                    bad.push(format!("{rel}:{}: {p}", n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// The checks themselves: each kind of bad reference is caught.

#[test]
fn the_checks_catch_outside_and_dead_references() {
    let root = repo();
    let tops = top_level(&root);
    let doc = root.join("README.md");
    let sample = "See [the mission](../shared/MISSION.md), [gone](docs/nothing-here.md),\n\
                  `/work/shared/examples/journey/wrk-1.yaml` and `crates/no-such-crate/src/lib.rs`.\n\
                  Fine: [docs](docs/mission.md), [web](https://kubernetes.io/), `crates/cni/src/lib.rs`,\n\
                  `examples/journey/wrk-1.yaml`, `/etc/cni/net.d`.\n";
    let (links, bad) = check_markdown(&root, &tops, &doc, sample);
    assert_eq!(links, 4);
    let joined = bad.join("\n");
    for want in [
        "link (../shared/MISSION.md)",
        "link (docs/nothing-here.md)",
        "\"/work/shared/examples/journey/wrk-1.yaml\" names a place outside",
        "\"crates/no-such-crate/src/lib.rs\" is not a file",
    ] {
        assert!(joined.contains(want), "{want} not reported in:\n{joined}");
    }
    assert_eq!(bad.len(), 4, "{joined}");

    let help = "MISSION.md's reference journey; see ../shared/MISSION.md";
    let found: Vec<String> = words(help)
        .filter_map(|w| check_word(&root, &tops, &root, w))
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(check_word(&root, &tops, &root, "docs/mission.md").is_none());
    assert!(check_word(&root, &tops, &root, "/var/lib/labyrinth/apiserver").is_none());
}
