//! The error result a plugin prints on failure (spec section 5, "Error").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResult {
    #[serde(default)]
    pub cni_version: String,
    #[serde(default)]
    pub code: u32,
    #[serde(default)]
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_left_out_when_empty() {
        let e = ErrorResult {
            cni_version: "1.1.0".into(),
            code: 7,
            msg: "invalid network config field mtu".into(),
            details: String::new(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion": "1.1.0", "code": 7, "msg": "invalid network config field mtu"})
        );
        assert_eq!(serde_json::from_value::<ErrorResult>(v).unwrap(), e);
    }
}
