//! labyrinth-cni: a CNI 1.1 plugin (ADD, DEL, CHECK, STATUS, GC, VERSION for
//! cniVersion 0.3.0 … 1.1.0) that gives a pod a veth pair (pod `eth0` ⇄ host
//! `lxc<hash>`), a /32 from the node's pod CIDR through host-local-compatible
//! IPAM, and a default route via the node's gateway address.
//!
//! Entry points: [`plugin_main`] runs one CNI invocation from the process
//! environment and stdin (the multi-call `labyrinth-cni` executable), and
//! [`run`] is the same behind the `labyrinth cni` subcommand. [`conflist`]
//! writes the conflist a node needs in /etc/cni/net.d.

pub mod commands;
pub mod config;
pub mod delegate;
pub mod ipam;
pub mod netsetup;
pub mod retire;
pub mod spec;

use std::io::{IsTerminal, Read, Write};

use labyrinth_contracts::cni::{NetworkConfigList, PluginConf};
use serde::Serialize;
use serde_json::Value;

pub use commands::LabyrinthPlugin;
pub use config::NetConf;

/// `labyrinth cni`: the plugin takes everything from CNI_* variables and
/// stdin, as runtimes call it, so there are no flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {}

/// Run one CNI invocation; returns the process exit code.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    Ok(plugin_main())
}

/// Read the environment and stdin, dispatch, print the result or error JSON
/// on stdout (a log line on stderr on error) and return the exit code.
pub fn plugin_main() -> i32 {
    let stdin = read_stdin();
    let out = spec::dispatch(&LabyrinthPlugin::EXEC, |k| std::env::var(k).ok(), stdin);
    let mut stdout = std::io::stdout().lock();
    if !out.stdout.is_empty() {
        let _ = writeln!(stdout, "{}", out.stdout);
    }
    let _ = stdout.flush();
    if !out.stderr.is_empty() {
        eprintln!("{}", out.stderr);
    }
    out.exit_code
}

/// A terminal on stdin means a person ran us by hand: do not wait for input.
fn read_stdin() -> Result<Vec<u8>, String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    stdin.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The conflist for one node: our plugin with the node's pod CIDR, gateway
/// and (tunnel-lowered) MTU. Write it to /etc/cni/net.d/10-labyrinth.conflist.
pub fn conflist(
    network: &str,
    pod_cidr: &str,
    gateway: &str,
    mtu: u32,
    data_dir: Option<&str>,
) -> NetworkConfigList {
    /// Our plugin's own keys (what [`NetConf::parse`] reads).
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Ours<'a> {
        mtu: u32,
        gateway: &'a str,
        #[serde(rename = "podCIDR")]
        pod_cidr: &'a str,
        ipam: Ipam<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Ipam<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data_dir: Option<&'a str>,
    }
    let ours = Ours {
        mtu,
        gateway,
        pod_cidr,
        ipam: Ipam {
            kind: "host-local",
            data_dir,
        },
    };
    let Ok(Value::Object(fields)) = serde_json::to_value(&ours) else {
        unreachable!("a struct of strings and numbers serializes to an object")
    };
    NetworkConfigList::current(
        network,
        vec![PluginConf {
            kind: "labyrinth-cni".into(),
            fields,
        }],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist_plugin_entry_is_a_valid_config() {
        let list = conflist(
            "labyrinth",
            "10.0.1.0/24",
            "10.0.1.1",
            1410,
            Some("/var/lib/cni/networks"),
        );
        let plugin = serde_json::to_value(list.invocation(&list.plugins[0], None)).unwrap();
        assert_eq!(plugin["ipam"]["dataDir"], "/var/lib/cni/networks");
        let c = NetConf::parse(&plugin).unwrap();
        assert_eq!(c.mtu, 1410);
        assert_eq!(c.gateway.to_string(), "10.0.1.1");
    }
}
