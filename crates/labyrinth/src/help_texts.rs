//! Every subcommand, option and positional of `labyrinth` says what it is
//! for in `--help`, in one line (issue 15).

use clap::CommandFactory;

/// `path: arg` for every argument without help, and for every help that
/// spans lines (clap joins a doc comment's lines; a blank line would make
/// a second paragraph).
fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        // clap's own --help and --version.
        if id == "help" || id == "version" {
            continue;
        }
        match arg.get_help() {
            None => out.push(format!("{path}: {id} has no help text")),
            Some(h) if h.to_string().trim().is_empty() => out.push(format!("{path}: {id} has no help text")),
            Some(h) if h.to_string().contains('\n') => {
                out.push(format!("{path}: {id}'s help is not one line"))
            }
            Some(_) => {}
        }
    }
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let sub_path = format!("{path} {name}");
        if sub.get_about().is_none_or(|a| a.to_string().trim().is_empty()) {
            out.push(format!("{sub_path}: no about text"));
        }
        missing(sub, &sub_path, out);
    }
}

#[test]
fn every_option_and_positional_has_one_line_of_help() {
    let cmd = super::Cli::command();
    let mut out = Vec::new();
    missing(&cmd, "labyrinth", &mut out);
    assert!(out.is_empty(), "{} without help:\n{}", out.len(), out.join("\n"));
}
