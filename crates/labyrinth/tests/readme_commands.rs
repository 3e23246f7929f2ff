//! Issue 15, acceptance 8: every command the README shows runs, as written,
//! against real labs, so the README cannot drift from the program.
//!
//! The README's `sh` blocks are one walk-through: read in order they are the
//! script a newcomer pastes into a terminal. This test builds exactly that
//! script (`set -euo pipefail`, every block in document order) and runs it as
//! root with our `labyrinth` first on the PATH, from a fresh directory that
//! holds the repository's `examples/` and the README's lab file as
//! `lab.yaml`. A command that fails stops the script and fails the test,
//! naming the command (`set -x` echoes each one).
//!
//! Two adaptations, both mechanical: the default lab is a unique name
//! (`LABYRINTH_LAB`), and every `--name X` becomes `--name <unique>X`, so the
//! walk-through never meets a user's labs or a parallel test's.
//!
//! A block the walk-through cannot run (the test suite itself, an hour of
//! fuzzing) is marked in the README by `<!-- readme-test: not run: why -->`
//! just before it; this test accepts exactly the marked blocks listed in
//! `NOT_RUN` (so a new exemption is a visible change here) and checks that
//! each still names what runs it instead.
//!
//! `text` blocks of the form `labyrinth SUB … [--flag …]` are usage
//! synopses: every flag they name must be in that subcommand's `--help`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// The README blocks that are not run, by their first line, and where their
/// commands do run.
const NOT_RUN: &[(&str, &str)] = &[("./run.sh ", ".ci/run"), ("bash fuzz/run.sh ", "run.sh")];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

#[derive(Debug, Clone, PartialEq)]
struct Block {
    lang: String,
    text: String,
    /// The reason from a `<!-- readme-test: not run: … -->` right before it.
    not_run: Option<String>,
}

/// The fenced code blocks of a Markdown text, read as CommonMark does, with
/// the not-run marker of each.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    let mut current: Option<Block> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                let h = html.trim();
                if let Some(rest) = h.strip_prefix("<!-- readme-test: not run:") {
                    marker = Some(rest.trim_end_matches("-->").trim().to_string());
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) => {
                current = Some(Block {
                    lang: lang.to_string(),
                    text: String::new(),
                    not_run: marker.take(),
                });
            }
            Event::Text(t) => {
                if let Some(b) = current.as_mut() {
                    b.text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            Event::Start(Tag::Paragraph) => marker = None,
            _ => {}
        }
    }
    out
}

/// `--name X` → `--name <prefix>X`, everywhere in a script, and the names
/// so made (to take those labs down whatever happens).
fn unique_names(script: &str, prefix: &str) -> (String, Vec<String>) {
    let mut names = Vec::new();
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(at) = rest.find("--name ") {
        let (before, after) = rest.split_at(at + "--name ".len());
        out.push_str(before);
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        let name = format!("{prefix}{}", &after[..end]);
        out.push_str(&name);
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, names)
}

/// The flags (`--x`) a usage line names.
fn flags(line: &str) -> Vec<&str> {
    line.split(|c: char| c.is_whitespace() || "[]|".contains(c))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect()
}

/// `labyrinth lab up [--x]` → `["lab", "up"]`: the subcommand words.
fn subcommand(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .skip(1)
        .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-'))
        .collect()
}

#[test]
fn blocks_markers_and_names_are_read_as_written() {
    let md = "Intro\n\n<!-- readme-test: not run: CI runs it -->\n```sh\n./run.sh test\n```\n\ntext\n\n```sh\nlabyrinth lab up --name blue --workers 4\nlabyrinth lab down --name blue\n```\n\n```text\nlabyrinth lab ls [--json]\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].not_run.as_deref(), Some("CI runs it"));
    assert_eq!(b[0].text, "./run.sh test\n");
    assert_eq!(b[1].not_run, None, "a marker applies to the next block only");
    assert_eq!(b[2].lang, "text");
    let (s, names) = unique_names(&b[1].text, "t1-");
    assert_eq!(
        s,
        "labyrinth lab up --name t1-blue --workers 4\nlabyrinth lab down --name t1-blue\n"
    );
    assert_eq!(names, vec!["t1-blue".to_string()]);
    assert_eq!(
        flags("labyrinth lab ls [--json] [--x|--y]"),
        vec!["--json", "--x", "--y"]
    );
    assert_eq!(
        subcommand("labyrinth lab status [--name NAME]"),
        vec!["lab", "status"]
    );
    assert_eq!(subcommand("labyrinth trace [--name LAB] NS/POD"), vec!["trace"]);
}

#[test]
fn the_not_run_blocks_are_the_known_ones_and_say_what_runs_them() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let skipped: Vec<Block> = blocks(&readme)
        .into_iter()
        .filter(|b| b.not_run.is_some())
        .collect();
    assert_eq!(
        skipped.len(),
        NOT_RUN.len(),
        "README blocks marked not run: {skipped:#?}; this test knows {NOT_RUN:?}"
    );
    for (b, (first, runner)) in skipped.iter().zip(NOT_RUN) {
        assert!(
            b.text.starts_with(first),
            "marked block {:?} is not the expected {first:?}",
            b.text
        );
        let reason = b.not_run.as_deref().unwrap();
        assert!(
            reason.contains(runner),
            "the reason {reason:?} should name {runner}"
        );
        assert!(
            repo().join(runner).is_file(),
            "{runner} is not a file of the repository"
        );
    }
    // What the reasons claim: CI runs `./run.sh test`, which runs the fuzz
    // targets.
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("./run.sh test"), ".ci/run: {ci}");
    let run = std::fs::read_to_string(repo().join("run.sh")).unwrap();
    assert!(
        run.contains("bash fuzz/run.sh"),
        "run.sh no longer runs the fuzz targets"
    );
}

#[test]
fn usage_lines_name_only_flags_the_program_has() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut checked = 0;
    for b in blocks(&readme).iter().filter(|b| b.lang == "text") {
        for line in b.text.lines().filter(|l| l.starts_with("labyrinth ")) {
            let sub = subcommand(line);
            let help = Command::new(BIN).args(&sub).arg("--help").output().unwrap();
            assert!(help.status.success(), "labyrinth {} --help failed", sub.join(" "));
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in flags(line) {
                assert!(
                    help.contains(flag),
                    "README: `{line}` names {flag}, not in `labyrinth {} --help`",
                    sub.join(" ")
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} flags in the README's usage blocks: were they moved?"
    );
}

/// Takes every lab the walk-through made down, whatever happened.
struct Labs(Vec<String>);

impl Drop for Labs {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = labyrinth(&["lab", "down", "--name", name]);
        }
    }
}

#[test]
fn every_readme_command_runs_as_written() {
    if !need_root("every_readme_command_runs_as_written") {
        return;
    }
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let all = blocks(&readme);
    let prefix = format!("{}-", lab_name("rd"));
    let default_lab = format!("{prefix}lab");

    let mut script = String::from("set -euo pipefail\nset -x\n");
    for b in all.iter().filter(|b| b.lang == "sh" && b.not_run.is_none()) {
        script.push_str(&b.text);
        script.push('\n');
    }
    // Background commands (`… &`) have finished their part; wait for them.
    script.push_str("wait\n");
    let (script, mut names) = unique_names(&script, &prefix);
    names.push(default_lab.clone());
    let _labs = Labs(names);

    // A fresh directory as a user's: the examples and the README's lab file.
    let dir = std::env::temp_dir().join(format!("readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).unwrap();
    std::os::unix::fs::symlink(BIN, dir.join("bin/labyrinth")).unwrap();
    let lab_file = all
        .iter()
        .find(|b| b.lang == "yaml" && b.text.contains("datapath:"))
        .expect("the README's lab file block");
    std::fs::write(dir.join("lab.yaml"), &lab_file.text).unwrap();
    std::fs::write(dir.join("walkthrough.sh"), &script).unwrap();

    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = dir.join("walkthrough.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("bash")
        .arg(dir.join("walkthrough.sh"))
        .current_dir(&dir)
        .env("PATH", path)
        .env("LABYRINTH_LAB", &default_lab)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("running bash");
    // A bound so that a command waiting forever fails the test instead of
    // hanging CI; the walk-through takes a few minutes.
    let deadline = Instant::now() + Duration::from_secs(25 * 60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut out = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let tail: String = out
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    match status {
        Some(s) if s.success() => {}
        Some(s) => {
            panic!("the README walk-through failed ({s}); the last command (after '+') failed:\n{tail}")
        }
        None => panic!("the README walk-through did not finish in 25 minutes:\n{tail}"),
    }
    // What the README promises the commands show: the wrk-2 pod's server
    // prints the line (once from `nc`, once from the trace), and the three
    // `web` replicas all answer `netexec dial`.
    let hellos = out.lines().filter(|l| l.trim() == "hello").count();
    assert!(
        hellos >= 2,
        "the server in the wrk-2 pod printed 'hello' {hellos} times, not twice:\n{tail}"
    );
    assert!(
        out.contains("\"categories\": 3"),
        "netexec dial did not hear all three web replicas:\n{out}"
    );
    // What the walk-through leaves a user: the trace's capture and page.
    for f in ["j.pcapng", "j.html"] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "the README's trace command wrote no {f}:\n{tail}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
