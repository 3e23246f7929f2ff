//! One CNI invocation as a runtime makes it: CNI_* variables and the network
//! config on stdin → `labyrinth_cni::spec::dispatch` with a plugin whose
//! commands parse the config exactly as the real plugin's do
//! (`NetConf::parse`) and stop there, so nothing touches the machine.
//!
//! Input: `NAME=value` lines (the environment; a line that is not UTF-8 is
//! a variable `std::env::var` could not read, so it is absent; the line
//! `#stdin-error` makes reading stdin fail), an empty line, then stdin.
//! Without an empty line the whole input is the environment.
//!
//! Properties: no panic; exit code 0 or 1; on 0, stdout is empty or a JSON
//! result (ADD's parses back as a prevResult, with the address ADD gave);
//! on 1, stdout is a CNI error JSON with a well-known code, a message and
//! the cniVersion, and an environment error names the variable.

use std::collections::HashMap;

use labyrinth_cni::spec::{self, CniError, CniResult, Interface, IpConfig, Plugin, Request, Route};
use labyrinth_cni::NetConf;
use serde_json::Value;

/// The real plugin's commands up to the point where they would touch the
/// kernel or the IPAM directory.
struct ParseOnly;

impl Plugin for ParseOnly {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let conf = NetConf::parse(&req.config)?;
        let mine = CniResult {
            interfaces: vec![Interface {
                name: req.env.ifname.clone(),
                mac: Some("02:00:00:00:00:01".into()),
                mtu: Some(conf.mtu),
                sandbox: req.env.netns.clone(),
            }],
            ips: vec![IpConfig {
                address: ipnet::IpNet::from(ipnet::Ipv4Net::new(conf.ranges[0].start, 32).expect("a /32")),
                gateway: Some(conf.gateway.into()),
                interface: Some(0),
            }],
            routes: conf
                .routes
                .iter()
                .map(|dst| Route {
                    dst: (*dst).into(),
                    gw: Some(conf.gateway.into()),
                    scope: None,
                })
                .collect(),
            dns: conf.dns.clone(),
        };
        Ok(match &req.prev_result {
            Some(prev) => mine.chained_onto(prev),
            None => mine,
        })
    }
    fn del(&self, req: &Request) -> Result<(), CniError> {
        NetConf::parse(&req.config).map(drop)
    }
    fn check(&self, req: &Request) -> Result<(), CniError> {
        NetConf::parse(&req.config).map(drop)
    }
    fn status(&self, req: &Request) -> Result<(), CniError> {
        NetConf::parse(&req.config).map(drop)
    }
    fn gc(&self, req: &Request) -> Result<(), CniError> {
        NetConf::parse(&req.config).map(drop)
    }
}

/// (environment, stdin)
fn split(data: &[u8]) -> (HashMap<String, String>, Result<Vec<u8>, String>) {
    let (env_block, stdin) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut env = HashMap::new();
    let mut stdin_error = false;
    for line in env_block.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if line == "#stdin-error" {
            stdin_error = true;
        } else if let Some((k, v)) = line.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let stdin = if stdin_error {
        Err("Input/output error (os error 5)".to_string())
    } else {
        Ok(stdin.to_vec())
    };
    (env, stdin)
}

const CODES: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101, 102, 999];

pub fn check(data: &[u8]) {
    let (env, stdin) = split(data);
    let out = spec::dispatch(&ParseOnly, |k| env.get(k).cloned(), stdin);
    let command = env.get("CNI_COMMAND").map(String::as_str);
    match out.exit_code {
        0 => {
            assert!(out.stderr.is_empty(), "success with a log line: {out:?}");
            if out.stdout.is_empty() {
                assert!(
                    !matches!(command, Some("ADD" | "VERSION")),
                    "{command:?} succeeded without a result"
                );
                return;
            }
            let v: Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("success output is not JSON ({e}): {}", out.stdout));
            assert!(v["cniVersion"].is_string(), "result without cniVersion: {v}");
            if command == Some("ADD") {
                let back = CniResult::from_json(&v)
                    .unwrap_or_else(|e| panic!("ADD's result does not parse back ({e}): {v}"));
                assert!(!back.ips.is_empty(), "ADD's result lost its address: {v}");
            } else {
                assert_eq!(command, Some("VERSION"), "only ADD and VERSION print a result");
                assert!(v["supportedVersions"].is_array(), "{v}");
            }
        }
        1 => {
            let v: Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("error output is not JSON ({e}): {}", out.stdout));
            let code = v["code"]
                .as_u64()
                .unwrap_or_else(|| panic!("error without a code: {v}"));
            assert!(CODES.contains(&(code as u32)), "unknown error code {code}: {v}");
            let msg = v["msg"].as_str().unwrap_or("");
            assert!(!msg.is_empty(), "error without a message: {v}");
            assert!(v["cniVersion"].is_string(), "error without cniVersion: {v}");
            if code == u64::from(spec::code::INVALID_ENV) {
                assert!(msg.contains("CNI_"), "environment error names no variable: {v}");
            }
            assert!(!out.stderr.is_empty(), "failure without a log line: {out:?}");
        }
        other => panic!("exit code {other}: {out:?}"),
    }
}
