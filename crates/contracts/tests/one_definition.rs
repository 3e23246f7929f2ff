//! Acceptance point 1 of issue 14, for the facts this crate owns: outside
//! labyrinth-contracts and tests, no source file spells the node's device
//! names, the VXLAN port, the sandbox record's fields or its file, or the
//! CNI result's JSON keys. They are imported from here instead.
//!
//! Scanned: every `.rs` file under `crates/*/src`, except this crate, the
//! dev-only test kit and test code (files declared as `#[cfg(test)] mod`,
//! and everything under them; inline `#[cfg(test)]` items). Comments and doc
//! comments may name the facts (prose explains them); string literals and
//! code may not. The C eBPF sources mirror the constants and are not Rust.

use std::path::{Path, PathBuf};

/// What may not be spelled, and why.
struct Rule {
    /// Matched in code and string literals (comments are blanked first).
    text: &'static str,
    /// Whether `text` must stand alone (no letter, digit or `_` either side).
    word: bool,
    owner: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        text: "lby_host",
        word: true,
        owner: "contracts::node::HOST_DEV",
    },
    Rule {
        text: "lby_net",
        word: true,
        owner: "contracts::node::NET_DEV",
    },
    Rule {
        text: "lby_vxlan",
        word: true,
        owner: "contracts::node::VXLAN_DEV",
    },
    Rule {
        text: "ens4",
        word: true,
        owner: "contracts::node::UPLINK_DEV",
    },
    Rule {
        text: "8472",
        word: true,
        owner: "contracts::node::VXLAN_PORT",
    },
    // The sandbox record: its fields as JSON keys, its file and folder.
    Rule {
        text: "\"cni_result\"",
        word: false,
        owner: "contracts::sandbox::SandboxRecord",
    },
    Rule {
        text: "\"cni_network\"",
        word: false,
        owner: "contracts::sandbox::SandboxRecord",
    },
    Rule {
        text: "\"containers\"]",
        word: false,
        owner: "contracts::sandbox::SandboxRecord",
    },
    Rule {
        text: "[\"netns\"]",
        word: false,
        owner: "contracts::sandbox::SandboxRecord",
    },
    Rule {
        text: "[\"pause\"]",
        word: false,
        owner: "contracts::sandbox::SandboxRecord",
    },
    Rule {
        text: "\"last_exit\"",
        word: false,
        owner: "contracts::sandbox::ContainerRecord",
    },
    Rule {
        text: "\"started_at\"",
        word: false,
        owner: "contracts::sandbox::ContainerRecord",
    },
    Rule {
        text: "\"restarts\"",
        word: false,
        owner: "contracts::sandbox::ContainerRecord",
    },
    Rule {
        text: "sandbox.json",
        word: false,
        owner: "contracts::sandbox::RECORD_FILE",
    },
    Rule {
        text: "var/lib/labyrinth/pods",
        word: false,
        owner: "contracts::sandbox::PODS_DIR",
    },
    // The CNI result's keys, as a walk of a serde_json::Value would use them.
    Rule {
        text: "\"interfaces\"",
        word: false,
        owner: "contracts::cni::CniResult",
    },
    Rule {
        text: "\"ips\"",
        word: false,
        owner: "contracts::cni::CniResult",
    },
    Rule {
        text: "[\"mac\"]",
        word: false,
        owner: "contracts::cni::Interface",
    },
    Rule {
        text: "[\"sandbox\"]",
        word: false,
        owner: "contracts::cni::Interface",
    },
];

/// Crates whose sources are not scanned: the owner, and test support.
const SKIPPED_CRATES: &[&str] = &["contracts", "testkit"];

#[test]
fn no_source_outside_contracts_spells_its_facts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = production_sources(&root.join("crates"));
    assert!(
        files.len() > 100,
        "found only {} source files under {}: the scan is looking in the wrong place",
        files.len(),
        root.display()
    );
    let mut found = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        let code = without_test_items(&mask_comments(&src));
        for (line_no, line) in code.lines().enumerate() {
            for rule in RULES {
                if contains(line, rule) {
                    found.push(format!(
                        "{}:{}: spells {} (use {})",
                        file.strip_prefix(&root).unwrap_or(file).display(),
                        line_no + 1,
                        rule.text,
                        rule.owner
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "facts restated outside labyrinth-contracts:\n{}",
        found.join("\n")
    );
}

/// Every `.rs` file under `crates/*/src` that is not test code.
fn production_sources(crates: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for krate in std::fs::read_dir(crates).unwrap().flatten() {
        let name = krate.file_name().to_string_lossy().into_owned();
        if SKIPPED_CRATES.contains(&name.as_str()) {
            continue;
        }
        walk(&krate.path().join("src"), &mut all);
    }
    let mut test_modules = Vec::new();
    for file in &all {
        let src = std::fs::read_to_string(file).unwrap();
        test_modules.extend(test_module_files(file, &mask_comments(&src)));
    }
    all.retain(|f| {
        !test_modules
            .iter()
            .any(|t| f == t || f.starts_with(t.with_extension("")))
    });
    all.sort();
    all
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn contains(line: &str, rule: &Rule) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    line.match_indices(rule.text).any(|(i, m)| {
        !rule.word
            || (!is_word(line[..i].chars().next_back()) && !is_word(line[i + m.len()..].chars().next()))
    })
}

/// Lexical classes of a source byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Code,
    Literal,
}

/// The source with every comment replaced by spaces (newlines kept, so line
/// numbers hold), and which bytes are inside string or char literals.
struct Masked {
    text: String,
    class: Vec<Class>,
}

fn mask_comments(src: &str) -> Masked {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut class = vec![Class::Code; b.len()];
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some((open, hashes)) = raw_string_start(b, i) {
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = b[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |n| open + n + close.len());
            class[i..end].fill(Class::Literal);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            class[i..end].fill(Class::Literal);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                // Past the escaped character, so '\'' ends at its last quote.
                b.get(i + 3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|n| i + 3 + n + 1)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 2 + ch)
            };
            match end {
                Some(end) => {
                    class[i..end].fill(Class::Literal);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    Masked {
        text: String::from_utf8(out).expect("blanking keeps UTF-8"),
        class,
    }
}

/// `r"`, `r#"`, `br"`, … at `i` (not inside an identifier): the index
/// after the opening quote and the number of `#`.
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    (b.get(j) == Some(&b'"')).then_some((j + 1, hashes))
}

/// Attributes `#[cfg(test)]` in code (not in literals), with the index
/// just past each.
fn cfg_test_attrs(m: &Masked) -> Vec<(usize, usize)> {
    const ATTR: &str = "#[cfg(test)]";
    m.text
        .match_indices(ATTR)
        .filter(|(i, _)| m.class[*i] == Class::Code)
        .map(|(i, a)| (i, i + a.len()))
        .collect()
}

/// Past whitespace and further attributes after `from`; the `#[path]`
/// value if one was there.
fn skip_attrs(m: &Masked, mut from: usize) -> (usize, Option<String>) {
    let b = m.text.as_bytes();
    let mut path = None;
    loop {
        while from < b.len() && b[from].is_ascii_whitespace() {
            from += 1;
        }
        if !m.text[from..].starts_with("#[") {
            return (from, path);
        }
        let end = m.text[from..].find(']').map_or(b.len(), |n| from + n + 1);
        let attr = &m.text[from..end];
        if let Some(v) = attr.strip_prefix("#[path").and_then(|a| a.split('"').nth(1)) {
            path = Some(v.to_string());
        }
        from = end;
    }
}

/// Files of modules declared `#[cfg(test)] mod name;` in `file`.
fn test_module_files(file: &Path, m: &Masked) -> Vec<PathBuf> {
    let dir = file.parent().unwrap();
    let stem = file.file_stem().unwrap().to_string_lossy();
    let module_dir = if ["mod", "lib", "main"].contains(&stem.as_ref()) {
        dir.to_path_buf()
    } else {
        dir.join(stem.as_ref())
    };
    let mut out = Vec::new();
    for (_, after) in cfg_test_attrs(m) {
        let (item, path) = skip_attrs(m, after);
        let Some(end) = m.text[item..].find([';', '{']).map(|n| item + n) else {
            continue;
        };
        if m.text.as_bytes()[end] != b';' {
            continue;
        }
        let words: Vec<&str> = m.text[item..end].split_whitespace().collect();
        let Some(name) = words
            .iter()
            .position(|w| *w == "mod")
            .and_then(|i| words.get(i + 1))
        else {
            continue;
        };
        match path {
            Some(p) => out.push(dir.join(p)),
            None => {
                out.push(module_dir.join(format!("{name}.rs")));
                out.push(module_dir.join(name));
            }
        }
    }
    out
}

/// The code with every inline `#[cfg(test)]` item (`mod tests { … }`, a
/// test-only fn or impl) blanked.
fn without_test_items(m: &Masked) -> String {
    let mut out = m.text.clone().into_bytes();
    for (start, after) in cfg_test_attrs(m) {
        let (item, _) = skip_attrs(m, after);
        let Some(open) = m.text[item..].find([';', '{']).map(|n| item + n) else {
            continue;
        };
        if out[open] == b';' {
            continue; // `mod name;`: its file is left out of the scan
        }
        let mut depth = 0usize;
        let mut end = out.len();
        for (j, c) in m.text.bytes().enumerate().skip(open) {
            if m.class[j] != Class::Code {
                continue;
            }
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        for c in &mut out[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8")
}

#[test]
fn the_scan_sees_code_and_literals_but_not_comments_or_tests() {
    let src = r##"
//! The tunnel is lby_vxlan on 8472.
/// Doc: lby_host.
fn f() -> &'static str {
    let c = '"'; // lby_net in a comment
    /* nested /* ens4 */ still a comment lby_host */
    let _r = r#"raw "lby_vxlan" text"#;
    "ens4"
}
const PORT: u16 = 8472;
#[cfg(test)]
mod tests {
    const X: &str = "lby_host";
    fn g() { let _ = "{"; }
}
fn after() { let _ = ["sandbox"]; }
"##;
    let code = without_test_items(&mask_comments(src));
    let hits: Vec<(usize, &str)> = code
        .lines()
        .enumerate()
        .flat_map(|(n, line)| {
            RULES
                .iter()
                .filter(move |r| contains(line, r))
                .map(move |r| (n, r.text))
        })
        .collect();
    assert_eq!(
        hits,
        vec![(6, "lby_vxlan"), (7, "ens4"), (9, "8472"), (15, "[\"sandbox\"]")],
        "{code}"
    );
    assert!(
        !contains("lby_network", &RULES[1]),
        "a longer name is not the device"
    );
    assert!(!contains("18472", &RULES[4]));
}

#[test]
fn test_modules_declared_in_a_file_are_left_out() {
    let src = "#[cfg(test)]\nmod tests;\n#[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod x;\nmod real;\n";
    let dir = Path::new("/w/crates/k/src");
    let got = test_module_files(&dir.join("lib.rs"), &mask_comments(src));
    assert_eq!(
        got,
        vec![dir.join("tests.rs"), dir.join("tests"), dir.join("x_tests.rs")]
    );
    let got = test_module_files(&dir.join("a.rs"), &mask_comments(src));
    assert_eq!(got[0], dir.join("a/tests.rs"));
}
