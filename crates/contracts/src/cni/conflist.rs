//! The network configuration a runtime reads from `/etc/cni/net.d`: a
//! `.conflist` (a named list of plugin configs) or a single-plugin `.conf`,
//! and the config one plugin gets on stdin. The agent writes ours; the
//! runtime side (our agent, or containerd) reads any.
//!
//! A plugin's own keys are that plugin's business (`mtu`, `ipam`, …), so
//! a [`PluginConf`] keeps them as they were written, beside its `type`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::version::{Version, DECLARED, SUPPORTED};

/// A network configuration list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfigList {
    /// The version the runtime speaks to every plugin of the list.
    pub cni_version: String,
    /// Versions the list is valid for (CNI 1.1); runtimes that know the
    /// field pick the highest they speak.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cni_versions: Vec<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_check: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_gc: bool,
    pub plugins: Vec<PluginConf>,
}

/// One plugin's entry of a list: its `type` (the executable's name) and
/// its own keys, untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginConf {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// What a runtime writes to a plugin's stdin: the plugin's entry with the
/// list's name and version, and the previous plugin's result when chained.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInvocation<'a> {
    pub cni_version: &'a str,
    pub name: &'a str,
    #[serde(flatten)]
    pub plugin: &'a PluginConf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_result: Option<&'a Value>,
}

/// A single-plugin `.conf`: the plugin's entry with the name and version
/// beside it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SingleConf {
    #[serde(default)]
    cni_version: Option<String>,
    name: String,
    #[serde(flatten)]
    plugin: PluginConf,
}

/// The version a `.conf` without `cniVersion` is read as (the last one
/// before the field was required).
const UNVERSIONED: &str = "0.4.0";

impl NetworkConfigList {
    /// Read a config file's text: a list (with `plugins`) or a single
    /// plugin's config, which becomes a list of one. Errors name the field.
    pub fn from_text(text: &str) -> Result<NetworkConfigList, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v.get("plugins").is_some() {
            serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
        } else {
            let one: SingleConf =
                serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
            Ok(NetworkConfigList {
                cni_version: one.cni_version.unwrap_or_else(|| UNVERSIONED.into()),
                cni_versions: Vec::new(),
                name: one.name,
                disable_check: false,
                disable_gc: false,
                plugins: vec![one.plugin],
            })
        }
    }

    /// A list as we write it: declared at the version every runtime in use
    /// reads, valid for every version we speak.
    pub fn current(name: &str, plugins: Vec<PluginConf>) -> NetworkConfigList {
        NetworkConfigList {
            cni_version: DECLARED.into(),
            cni_versions: SUPPORTED.iter().map(|v| v.to_string()).collect(),
            name: name.into(),
            disable_check: false,
            disable_gc: false,
            plugins,
        }
    }

    /// The version a runtime speaking [`SUPPORTED`] uses with this list:
    /// the highest of `cniVersions` it knows (CNI 1.1), else `cniVersion`.
    pub fn spoken_version(&self) -> &str {
        self.cni_versions
            .iter()
            .filter(|v| Version::parse(v).is_some_and(Version::is_supported))
            .max_by_key(|v| Version::parse(v))
            .unwrap_or(&self.cni_version)
    }

    /// The stdin config of `plugin` (an entry of this list), in the
    /// version [`Self::spoken_version`] picks.
    pub fn invocation<'a>(
        &'a self,
        plugin: &'a PluginConf,
        prev_result: Option<&'a Value>,
    ) -> PluginInvocation<'a> {
        PluginInvocation {
            cni_version: self.spoken_version(),
            name: &self.name,
            plugin,
            prev_result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_each_plugins_own_keys() {
        let text = r#"{"cniVersion":"1.0.0","name":"a","plugins":[
            {"type":"ptp","mtu":1410,"ipam":{"type":"host-local"}},{"type":"portmap"}]}"#;
        let l = NetworkConfigList::from_text(text).unwrap();
        assert_eq!((l.name.as_str(), l.cni_version.as_str()), ("a", "1.0.0"));
        assert_eq!(l.plugins[0].kind, "ptp");
        assert_eq!(l.plugins[0].fields["mtu"], 1410);
        assert_eq!(l.plugins[1].kind, "portmap");
        let back: Value = serde_json::to_value(&l).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_single_conf_is_a_list_of_one() {
        let l = NetworkConfigList::from_text(r#"{"name":"b","type":"bridge","bridge":"cni0"}"#).unwrap();
        assert_eq!(l.cni_version, UNVERSIONED);
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.plugins[0].kind, "bridge");
        assert_eq!(l.plugins[0].fields["bridge"], "cni0");
    }

    #[test]
    fn errors_name_the_field() {
        let e = NetworkConfigList::from_text(r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"mtu":1}]}"#)
            .unwrap_err();
        assert!(e.contains("plugins[0]") && e.contains("type"), "{e}");
        let e = NetworkConfigList::from_text(r#"{"cniVersion":"1.0.0","plugins":[]}"#).unwrap_err();
        assert!(e.contains("name"), "{e}");
        assert!(NetworkConfigList::from_text("[").is_err());
    }

    #[test]
    fn an_invocation_is_the_entry_with_name_version_and_previous_result() {
        let l = NetworkConfigList::from_text(
            r#"{"cniVersion":"1.1.0","name":"n","plugins":[{"type":"x","k":1}]}"#,
        )
        .unwrap();
        let prev = serde_json::json!({"cniVersion":"1.1.0","ips":[]});
        let v = serde_json::to_value(l.invocation(&l.plugins[0], Some(&prev))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion":"1.1.0","name":"n","type":"x","k":1,"prevResult":prev})
        );
        let v = serde_json::to_value(l.invocation(&l.plugins[0], None)).unwrap();
        assert!(v.get("prevResult").is_none());
    }

    #[test]
    fn our_lists_declare_1_0_0_and_name_every_version_we_speak() {
        let l = NetworkConfigList::current("labyrinth", vec![]);
        assert_eq!(l.cni_version, "1.0.0");
        assert_eq!(l.cni_versions, SUPPORTED);
        // A runtime that reads cniVersions speaks our newest.
        assert_eq!(l.spoken_version(), super::super::version::LATEST);
    }

    #[test]
    fn the_spoken_version_is_the_highest_known_one_listed() {
        let list = |declared: &str, listed: &str| {
            NetworkConfigList::from_text(&format!(
                r#"{{"cniVersion":"{declared}","cniVersions":[{listed}],"name":"n","plugins":[{{"type":"x"}}]}}"#
            ))
            .unwrap()
        };
        assert_eq!(list("0.4.0", r#""0.3.1","1.0.0""#).spoken_version(), "1.0.0");
        // Versions unknown to us are passed over; none known: cniVersion.
        assert_eq!(list("1.0.0", r#""1.1.0","9.0.0""#).spoken_version(), "1.1.0");
        assert_eq!(list("1.0.0", r#""9.0.0","x""#).spoken_version(), "1.0.0");
        assert_eq!(list("0.4.0", "").spoken_version(), "0.4.0");
        let l = list("1.0.0", r#""1.1.0""#);
        let v = serde_json::to_value(l.invocation(&l.plugins[0], None)).unwrap();
        assert_eq!(v["cniVersion"], "1.1.0");
    }
}
