//! The CNI error result: well-known codes, a short `msg` and `details` that
//! name the offending field, variable or value.

use labyrinth_contracts::cni::ErrorResult;
use serde_json::Value;

/// Well-known error codes (spec section 5, "Error") and ours (100+).
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const PLUGIN_NOT_AVAILABLE: u32 = 50;
    pub const LIMITED_CONNECTIVITY: u32 = 51;
    /// CHECK found the attachment not as its prevResult says.
    pub const CHECK_MISMATCH: u32 = 100;
    /// The pod CIDR has no free address left.
    pub const ADDRESSES_EXHAUSTED: u32 = 101;
    /// ADD for an attachment that already holds an address.
    pub const DUPLICATE_ATTACHMENT: u32 = 102;
    /// A kernel or file operation failed (libcni uses 999 the same way).
    pub const INTERNAL: u32 = 999;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}: {details} (CNI error {code})")]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    pub fn incompatible_version(details: impl Into<String>) -> Self {
        Self::new(code::INCOMPATIBLE_VERSION, "incompatible CNI version", details)
    }

    /// The spec wants both the key and the value of the unsupported field.
    pub fn unsupported_field(key: &str, value: &Value, why: &str) -> Self {
        Self::new(
            code::UNSUPPORTED_FIELD,
            format!("unsupported field {key}"),
            format!("{key}={value}: {why}"),
        )
    }

    pub fn unknown_container(details: impl Into<String>) -> Self {
        Self::new(
            code::UNKNOWN_CONTAINER,
            "container unknown or does not exist",
            details,
        )
    }

    /// The spec wants the names of the invalid variables in the message.
    pub fn invalid_env(vars: &[&str], details: impl Into<String>) -> Self {
        Self::new(
            code::INVALID_ENV,
            format!("invalid environment variables: {}", vars.join(", ")),
            details,
        )
    }

    pub fn io(details: impl Into<String>) -> Self {
        Self::new(code::IO_FAILURE, "I/O failure", details)
    }

    pub fn decode(details: impl Into<String>) -> Self {
        Self::new(code::DECODE, "failed to decode content", details)
    }

    /// `field` is the JSON path of the bad value, e.g. `ipam.subnet`.
    pub fn invalid_config(field: &str, details: impl Into<String>) -> Self {
        Self::new(
            code::INVALID_CONFIG,
            format!("invalid network config field {field}"),
            details,
        )
    }

    pub fn not_available(details: impl Into<String>) -> Self {
        Self::new(code::PLUGIN_NOT_AVAILABLE, "plugin not available", details)
    }

    pub fn internal(msg: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, msg, details)
    }

    /// The error result JSON; `cni_version` is the one the config asked for.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let wire = ErrorResult {
            cni_version: cni_version.to_string(),
            code: self.code,
            msg: self.msg.clone(),
            details: self.details.clone(),
        };
        serde_json::to_value(wire).expect("an error result always serializes")
    }
}

/// Internal failures carried through `anyhow` keep their CNI code if they
/// started as one; anything else is an internal error with its full chain.
impl From<anyhow::Error> for CniError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<CniError>() {
            Some(c) => c.clone(),
            // msg: what we were doing and what the kernel said; details: the chain.
            None if e.chain().count() > 1 => {
                CniError::internal(format!("{e}: {}", e.root_cause()), format!("{e:#}"))
            }
            None => CniError::internal(e.to_string(), format!("{e:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_the_spec_example() {
        let e = CniError::invalid_config("ipam.subnet", "10.0.0.0/31 too small");
        let v = e.to_json("1.0.0");
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["code"], 7);
        assert!(v["msg"].as_str().unwrap().contains("ipam.subnet"));
        assert_eq!(v["details"], "10.0.0.0/31 too small");
    }

    #[test]
    fn env_errors_name_the_variables() {
        let e = CniError::invalid_env(&["CNI_NETNS", "CNI_IFNAME"], "missing");
        assert_eq!(e.code, 4);
        assert!(e.msg.contains("CNI_NETNS") && e.msg.contains("CNI_IFNAME"));
    }

    #[test]
    fn anyhow_keeps_cni_codes() {
        let inner = CniError::unknown_container("gone");
        let wrapped = anyhow::Error::new(inner.clone());
        assert_eq!(CniError::from(wrapped), inner);
        let plain: CniError = anyhow::anyhow!("boom").context("adding route").into();
        assert_eq!(plain.code, code::INTERNAL);
        assert!(plain.details.contains("boom"));
    }
}
