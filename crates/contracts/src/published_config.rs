//! A typed setting published as JSON under one key of a kube-system
//! ConfigMap (the agents' settings, kubeadm's ClusterConfiguration): the
//! one way both are written and read back, so the errors read alike.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// Where a setting is published: the ConfigMap's namespace and name, and
/// the data key holding the JSON.
pub struct Published {
    pub namespace: &'static str,
    pub name: &'static str,
    pub key: &'static str,
}

impl Published {
    /// The ConfigMap holding `value` as JSON under the key.
    pub fn config_map<T: Serialize>(&self, value: &T) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "data": {self.key: serde_json::to_string(value).expect("plain data serializes")},
        })
    }

    /// Read the value back from the ConfigMap; the error names the
    /// ConfigMap and the key.
    pub fn read<T: DeserializeOwned>(&self, cm: &Value) -> Result<T, String> {
        let (ns, name, key) = (self.namespace, self.name, self.key);
        let text = cm
            .get("data")
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("ConfigMap {ns}/{name} has no data key {key:?}"))?;
        serde_json::from_str(text).map_err(|e| format!("ConfigMap {ns}/{name}, key {key}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Published = Published {
        namespace: "kube-system",
        name: "x-config",
        key: "x.json",
    };

    #[test]
    fn a_value_reads_back_and_a_missing_or_bad_key_names_the_config_map_and_key() {
        let cm = AT.config_map(&vec![1u32, 2]);
        assert_eq!(AT.read::<Vec<u32>>(&cm).unwrap(), vec![1, 2]);
        let err = AT.read::<Vec<u32>>(&json!({"data": {}})).unwrap_err();
        assert!(
            err.contains("kube-system/x-config") && err.contains("\"x.json\""),
            "{err}"
        );
        let err = AT
            .read::<Vec<u32>>(&json!({"data": {"x.json": "{"}}))
            .unwrap_err();
        assert!(err.contains("kube-system/x-config, key x.json"), "{err}");
    }
}
