//! The calling convention's environment: CNI_COMMAND and friends, checked
//! per command with the spec's rules; errors name every bad variable.

use super::error::CniError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// Does this command act on one attachment (container + interface)?
    pub fn is_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

/// The parsed environment of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    pub netns: Option<String>,
    pub ifname: String,
    pub args: Vec<(String, String)>,
    pub path: Vec<String>,
}

impl Env {
    /// Read the environment through `get` (tests pass a map, the binary
    /// passes `std::env::var`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let command = match get("CNI_COMMAND") {
            None => return Err(CniError::invalid_env(&["CNI_COMMAND"], "CNI_COMMAND is not set")),
            Some(c) => match c.as_str() {
                "ADD" => Command::Add,
                "DEL" => Command::Del,
                "CHECK" => Command::Check,
                "STATUS" => Command::Status,
                "GC" => Command::Gc,
                "VERSION" => Command::Version,
                other => {
                    return Err(CniError::invalid_env(
                        &["CNI_COMMAND"],
                        format!(
                            "unknown CNI_COMMAND {other:?} (want ADD, DEL, CHECK, STATUS, GC or VERSION)"
                        ),
                    ))
                }
            },
        };
        // Required per command (spec section 2); DEL may come without a netns.
        let required: &[&str] = match command {
            Command::Add | Command::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
            Command::Del => &["CNI_CONTAINERID", "CNI_IFNAME"],
            _ => &[],
        };
        let missing: Vec<&str> = required.iter().copied().filter(|k| get(k).is_none()).collect();
        if !missing.is_empty() {
            return Err(CniError::invalid_env(
                &missing,
                format!("required for {} but not set", command.name()),
            ));
        }
        let container_id = get("CNI_CONTAINERID").unwrap_or_default();
        let ifname = get("CNI_IFNAME").unwrap_or_default();
        let netns = get("CNI_NETNS");
        if command.is_attachment() {
            validate_container_id(&container_id).map_err(|why| {
                CniError::invalid_env(&["CNI_CONTAINERID"], format!("{container_id:?}: {why}"))
            })?;
            validate_ifname(&ifname)
                .map_err(|why| CniError::invalid_env(&["CNI_IFNAME"], format!("{ifname:?}: {why}")))?;
            if let Some(ns) = &netns {
                if !ns.starts_with('/') {
                    return Err(CniError::invalid_env(
                        &["CNI_NETNS"],
                        format!("{ns:?} is not an absolute path"),
                    ));
                }
            }
        }
        let args = parse_args(&get("CNI_ARGS").unwrap_or_default())
            .map_err(|why| CniError::invalid_env(&["CNI_ARGS"], why))?;
        let path =
            get("CNI_PATH").map(|p| p.split(':').filter(|s| !s.is_empty()).map(String::from).collect());
        Ok(Env {
            command,
            container_id,
            netns,
            ifname,
            args,
            path: path.unwrap_or_default(),
        })
    }
}

/// Alphanumeric first, then alphanumerics, `_`, `.` or `-` (spec section 2).
pub fn validate_container_id(id: &str) -> Result<(), String> {
    validate_identifier(id)
}

/// Also used for the network `name`, which has the same rule.
pub fn validate_identifier(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        None => return Err("must not be empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(format!("must start with a letter or digit, not {c:?}"))
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "invalid character {c:?} (allowed: letters, digits, '_', '.', '-')"
        ));
    }
    Ok(())
}

/// Linux interface names: 1..=15 bytes, not `.`/`..`, no `/`, `:` or space.
pub fn validate_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 15 {
        return Err(format!("is {} bytes, the limit is 15", name.len()));
    }
    if name == "." || name == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if let Some(c) = name.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace()) {
        return Err(format!("must not contain {c:?}"));
    }
    Ok(())
}

/// `K=V;K2=V2`; an empty string is no arguments.
pub fn parse_args(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{pair:?} is not a KEY=VALUE pair")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Env, CniError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_lookup(|k| m.get(k).cloned())
    }

    const ADD: &[(&str, &str)] = &[
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "abc"),
        ("CNI_NETNS", "/proc/1/ns/net"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_ARGS", "K8S_POD_NAME=x;IgnoreUnknown=1"),
        ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
    ];

    #[test]
    fn full_add_environment_parses() {
        let e = env(ADD).unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!(e.args.len(), 2);
        assert_eq!(e.path, vec!["/opt/cni/bin", "/usr/lib/cni"]);
    }

    #[test]
    fn every_missing_variable_is_named() {
        let e = env(&[("CNI_COMMAND", "ADD")]).unwrap_err();
        assert_eq!(e.code, 4);
        for v in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
            assert!(e.msg.contains(v), "{e:?}");
        }
        // DEL does not need a netns; STATUS needs nothing but the command.
        assert!(env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "a"),
            ("CNI_IFNAME", "eth0")
        ])
        .is_ok());
        assert!(env(&[("CNI_COMMAND", "STATUS")]).is_ok());
        assert!(env(&[]).unwrap_err().msg.contains("CNI_COMMAND"));
        assert!(env(&[("CNI_COMMAND", "FROB")])
            .unwrap_err()
            .details
            .contains("FROB"));
    }

    #[test]
    fn bad_values_are_named() {
        let with = |k: &str, v: &str| {
            let mut p: Vec<(&str, &str)> = ADD.iter().copied().filter(|(kk, _)| *kk != k).collect();
            p.push((k, v));
            env(&p).unwrap_err()
        };
        assert!(with("CNI_CONTAINERID", "-x").msg.contains("CNI_CONTAINERID"));
        assert!(with("CNI_CONTAINERID", "a b").msg.contains("CNI_CONTAINERID"));
        assert!(with("CNI_IFNAME", "averyveryverylongname")
            .msg
            .contains("CNI_IFNAME"));
        assert!(with("CNI_IFNAME", "a/b").msg.contains("CNI_IFNAME"));
        assert!(with("CNI_IFNAME", "..").msg.contains("CNI_IFNAME"));
        assert!(with("CNI_NETNS", "relative/path").msg.contains("CNI_NETNS"));
        assert!(with("CNI_ARGS", "garbage").msg.contains("CNI_ARGS"));
    }
}
