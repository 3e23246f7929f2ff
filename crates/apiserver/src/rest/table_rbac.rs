//! Table columns of the RBAC kinds, as the real server prints them.

use super::table_cells::{age, col, str_at};
use serde_json::{json, Value};

pub fn columns(kind: &str) -> Option<Vec<Value>> {
    let s = |n: &str| col(n, "string", 0);
    let w = |n: &str| col(n, "string", 1);
    Some(match kind {
        "Role" | "ClusterRole" => vec![s("Name"), s("Created At")],
        "RoleBinding" | "ClusterRoleBinding" => {
            vec![
                s("Name"),
                s("Role"),
                s("Age"),
                w("Users"),
                w("Groups"),
                w("ServiceAccounts"),
            ]
        }
        _ => return None,
    })
}

pub fn cells(kind: &str, o: &Value) -> Vec<Value> {
    match kind {
        "Role" | "ClusterRole" => vec![json!(str_at(o, "/metadata/creationTimestamp"))],
        _ => {
            let subjects = o["subjects"].as_array().cloned().unwrap_or_default();
            let of = |k: &str| -> String {
                let names: Vec<String> = subjects
                    .iter()
                    .filter(|s| s["kind"] == k)
                    .map(|s| match (k, s["namespace"].as_str()) {
                        ("ServiceAccount", Some(ns)) => format!("{ns}/{}", s["name"].as_str().unwrap_or("")),
                        _ => s["name"].as_str().unwrap_or("").to_string(),
                    })
                    .collect();
                names.join(", ")
            };
            vec![
                json!(format!(
                    "{}/{}",
                    str_at(o, "/roleRef/kind"),
                    str_at(o, "/roleRef/name")
                )),
                json!(age(o)),
                json!(of("User")),
                json!(of("Group")),
                json!(of("ServiceAccount")),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_row_names_role_and_subjects() {
        let b = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "ns"}, {"kind": "Group", "name": "g"}]});
        let c = cells("RoleBinding", &b);
        assert_eq!(c.len() + 1, columns("RoleBinding").unwrap().len());
        assert_eq!(
            (c[0].as_str(), c[3].as_str(), c[4].as_str()),
            (Some("Role/pod-reader"), Some("g"), Some("ns/bot"))
        );
    }
}
