//! The ServiceAccounts controller's decision: every namespace that is not
//! being deleted has a `default` ServiceAccount (pods that name none run as
//! it); one removed is made again.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;

/// The account every namespace gets.
pub const DEFAULT: &str = "default";

/// Namespaces (names, sorted) that need their `default` account created.
pub fn missing_default(namespaces: &[&Namespace], accounts: &[&ServiceAccount]) -> Vec<String> {
    let mut out: Vec<String> = namespaces
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter(|n| n.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating"))
        .map(|n| n.name_any())
        .filter(|ns| {
            !accounts
                .iter()
                .any(|a| a.namespace().as_deref() == Some(ns.as_str()) && a.name_any() == DEFAULT)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_live_namespaces_without_default() {
        let ns = |name: &str, phase: &str| -> Namespace {
            serde_json::from_value(json!({"metadata": {"name": name}, "status": {"phase": phase}})).unwrap()
        };
        let sa = |ns: &str, name: &str| -> ServiceAccount {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}})).unwrap()
        };
        let (a, b, c, d) = (
            ns("a", "Active"),
            ns("b", "Active"),
            ns("c", "Terminating"),
            ns("d", "Active"),
        );
        let (sa_a, other_b) = (sa("a", "default"), sa("b", "builder"));
        assert_eq!(missing_default(&[&d, &a, &b, &c], &[&sa_a, &other_b]), ["b", "d"]);
    }
}
