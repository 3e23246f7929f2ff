//! The version-gated dispatcher: environment → stdin → decode → version
//! gates → the plugin's command → result or error JSON and an exit code.

use serde_json::{json, Value};

use super::env::{validate_identifier, Command, Env};
use super::error::CniError;
use super::{CniResult, Version, LATEST, SUPPORTED};

/// Everything one attachment command needs, already validated.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: Env,
    pub version: Version,
    /// The whole stdin config object (plugin-specific fields included).
    pub config: Value,
    pub prev_result: Option<CniResult>,
}

/// The commands a plugin implements; the dispatcher handles VERSION and all
/// protocol checks.
pub trait Plugin {
    fn add(&self, req: &Request) -> Result<CniResult, CniError>;
    fn del(&self, req: &Request) -> Result<(), CniError>;
    fn check(&self, req: &Request) -> Result<(), CniError>;
    fn status(&self, req: &Request) -> Result<(), CniError>;
    fn gc(&self, req: &Request) -> Result<(), CniError>;
}

/// What to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
    pub stdout: String,
    /// A one-line log for stderr (errors only).
    pub stderr: String,
}

/// Run one invocation. `stdin` is the raw config (empty if none was given).
pub fn dispatch(
    plugin: &dyn Plugin,
    get_env: impl Fn(&str) -> Option<String>,
    stdin: Result<Vec<u8>, String>,
) -> Outcome {
    // The error's cniVersion should echo the config's; peek at it early.
    let stdin_version = stdin
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v.get("cniVersion").and_then(Value::as_str).map(str::to_string))
        .filter(|s| !s.is_empty());
    let echo = stdin_version.clone().unwrap_or_else(|| LATEST.to_string());
    let env = match Env::from_lookup(get_env) {
        Ok(e) => e,
        Err(e) => return failure(&e, &echo, "environment"),
    };
    if env.command == Command::Version {
        let v = stdin_version.filter(|s| Version::parse(s).is_some_and(Version::is_supported));
        let out =
            json!({ "cniVersion": v.unwrap_or_else(|| LATEST.to_string()), "supportedVersions": SUPPORTED });
        return success(out.to_string());
    }
    let verb = env.command.name();
    match run(plugin, env, stdin) {
        Ok(Some(v)) => success(v.to_string()),
        Ok(None) => success(String::new()),
        Err(e) => failure(&e, &echo, verb),
    }
}

fn run(plugin: &dyn Plugin, env: Env, stdin: Result<Vec<u8>, String>) -> Result<Option<Value>, CniError> {
    let bytes = stdin.map_err(|e| CniError::io(format!("reading the network config from stdin: {e}")))?;
    let config: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CniError::decode(format!("network config on stdin is not JSON: {e}")))?;
    if !config.is_object() {
        return Err(CniError::decode("network config on stdin is not a JSON object"));
    }
    match config.get("name") {
        None | Some(Value::Null) => return Err(CniError::invalid_config("name", "missing network name")),
        Some(Value::String(n)) => {
            validate_identifier(n).map_err(|why| CniError::invalid_config("name", format!("{n:?}: {why}")))?
        }
        Some(other) => {
            return Err(CniError::invalid_config(
                "name",
                format!("{other} is not a string"),
            ))
        }
    }
    let vstr = match config.get("cniVersion") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(CniError::decode(format!("cniVersion {other} is not a string"))),
    };
    let version = Version::parse(vstr)
        .ok_or_else(|| CniError::decode(format!("cniVersion {vstr:?} is not a major.minor.patch version")))?;
    if !version.is_supported() {
        return Err(CniError::incompatible_version(format!(
            "config is {vstr:?}, plugin supports {}",
            SUPPORTED.join(", ")
        )));
    }
    let gate = |ok: bool, since: &str| {
        if ok {
            Ok(())
        } else {
            Err(CniError::incompatible_version(format!(
                "config version {version} does not allow {} (needs {since} or later)",
                env.command.name()
            )))
        }
    };
    match env.command {
        Command::Check => gate(version.allows_check(), "0.4.0")?,
        Command::Status | Command::Gc => gate(version.allows_status_and_gc(), "1.1.0")?,
        _ => {}
    }
    let prev_result = match config.get("prevResult") {
        None | Some(Value::Null) => None,
        Some(v) => Some(CniResult::from_json(v).map_err(|e| CniError::decode(format!("prevResult: {e}")))?),
    };
    if env.command == Command::Check && prev_result.is_none() {
        return Err(CniError::invalid_config(
            "prevResult",
            "CHECK needs the prevResult of the ADD",
        ));
    }
    let req = Request {
        env,
        version,
        config,
        prev_result,
    };
    match req.env.command {
        Command::Add => plugin.add(&req).map(|r| Some(r.to_json(version))),
        Command::Del => plugin.del(&req).map(|_| None),
        Command::Check => plugin.check(&req).map(|_| None),
        Command::Status => plugin.status(&req).map(|_| None),
        Command::Gc => plugin.gc(&req).map(|_| None),
        Command::Version => unreachable!("VERSION is answered before decoding"),
    }
}

fn success(stdout: String) -> Outcome {
    Outcome {
        exit_code: 0,
        stdout,
        stderr: String::new(),
    }
}

fn failure(e: &CniError, cni_version: &str, verb: &str) -> Outcome {
    Outcome {
        exit_code: 1,
        stdout: e.to_json(cni_version).to_string(),
        stderr: format!("labyrinth-cni {verb}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Interface, IpConfig};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Records which command ran; ADD returns a fixed result.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<&'static str>>);

    impl Plugin for Recorder {
        fn add(&self, _: &Request) -> Result<CniResult, CniError> {
            self.0.borrow_mut().push("add");
            Ok(CniResult {
                interfaces: vec![Interface {
                    name: "eth0".into(),
                    sandbox: Some("/x".into()),
                    ..Default::default()
                }],
                ips: vec![IpConfig {
                    address: "10.0.1.2/32".parse().unwrap(),
                    gateway: None,
                    interface: Some(0),
                }],
                ..Default::default()
            })
        }
        fn del(&self, _: &Request) -> Result<(), CniError> {
            self.0.borrow_mut().push("del");
            Ok(())
        }
        fn check(&self, _: &Request) -> Result<(), CniError> {
            self.0.borrow_mut().push("check");
            Ok(())
        }
        fn status(&self, _: &Request) -> Result<(), CniError> {
            self.0.borrow_mut().push("status");
            Ok(())
        }
        fn gc(&self, _: &Request) -> Result<(), CniError> {
            self.0.borrow_mut().push("gc");
            Ok(())
        }
    }

    fn call(p: &Recorder, cmd: &str, stdin: &str) -> (Outcome, Value) {
        let env: HashMap<&str, &str> = [
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/proc/1/ns/net"),
            ("CNI_IFNAME", "eth0"),
        ]
        .into();
        let out = dispatch(
            p,
            |k| env.get(k).map(|s| s.to_string()),
            Ok(stdin.as_bytes().to_vec()),
        );
        let v = if out.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&out.stdout).unwrap()
        };
        (out, v)
    }

    fn conf(version: &str) -> String {
        json!({"cniVersion": version, "name": "net", "type": "labyrinth-cni"}).to_string()
    }

    #[test]
    fn add_result_echoes_the_config_version_in_its_shape() {
        let p = Recorder::default();
        for v in SUPPORTED {
            let (out, res) = call(&p, "ADD", &conf(v));
            assert_eq!(out.exit_code, 0);
            assert_eq!(res["cniVersion"], *v);
            assert_eq!(res["ips"][0].get("version").is_some(), v.starts_with("0."));
        }
    }

    #[test]
    fn commands_are_gated_by_version() {
        let p = Recorder::default();
        let (out, e) = call(&p, "CHECK", &conf("0.3.1"));
        assert_eq!((out.exit_code, e["code"].as_u64()), (1, Some(1)));
        for cmd in ["STATUS", "GC"] {
            let (_, e) = call(&p, cmd, &conf("1.0.0"));
            assert_eq!(e["code"], 1, "{cmd}");
            assert_eq!(e["cniVersion"], "1.0.0");
            let (out, _) = call(&p, cmd, &conf("1.1.0"));
            assert_eq!(out.exit_code, 0, "{cmd}");
        }
        assert_eq!(*p.0.borrow(), vec!["status", "gc"]);
    }

    #[test]
    fn check_without_prev_result_is_invalid_config() {
        let p = Recorder::default();
        let (_, e) = call(&p, "CHECK", &conf("1.0.0"));
        assert_eq!(e["code"], 7);
        assert!(e["msg"].as_str().unwrap().contains("prevResult"));
        assert!(p.0.borrow().is_empty());
    }

    #[test]
    fn protocol_errors_use_the_spec_codes() {
        let p = Recorder::default();
        assert_eq!(call(&p, "ADD", "{nope").1["code"], 6);
        assert_eq!(call(&p, "ADD", "[1]").1["code"], 6);
        assert_eq!(call(&p, "ADD", r#"{"cniVersion":"1.0.0"}"#).1["code"], 7);
        assert_eq!(
            call(&p, "ADD", r#"{"cniVersion":"1.0.0","name":"-x"}"#).1["code"],
            7
        );
        let (_, e) = call(&p, "ADD", &conf("9.9.9"));
        assert_eq!(e["code"], 1);
        assert_eq!(e["cniVersion"], "9.9.9");
        assert!(e["details"].as_str().unwrap().contains("9.9.9"));
        assert_eq!(call(&p, "ADD", &conf("0.2.0")).1["code"], 1);
        let bad_prev = json!({"cniVersion": "1.0.0", "name": "n", "prevResult": {"ips": 3}}).to_string();
        let e = call(&p, "DEL", &bad_prev).1;
        assert_eq!(e["code"], 6);
        // The contracts' parse error names the field.
        assert!(
            e["details"].as_str().unwrap().starts_with("prevResult: ips"),
            "{e}"
        );
        let io = dispatch(
            &p,
            |k| (k == "CNI_COMMAND").then(|| "STATUS".to_string()),
            Err("EIO".into()),
        );
        assert_eq!(serde_json::from_str::<Value>(&io.stdout).unwrap()["code"], 5);
        assert!(p.0.borrow().is_empty());
    }

    #[test]
    fn version_lists_supported_versions() {
        let p = Recorder::default();
        let (out, v) = call(&p, "VERSION", r#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(out.exit_code, 0);
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["supportedVersions"].as_array().unwrap().len(), SUPPORTED.len());
        let (_, v) = call(&p, "VERSION", "");
        assert_eq!(v["cniVersion"], LATEST);
    }
}
