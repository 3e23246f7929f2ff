//! etcd's cluster membership calls (`/v3/cluster/member/add`, `…/remove`)
//! through the same JSON gateway as the store's: how `join
//! --control-plane` adds this node's member before starting it, as
//! kubeadm's stacked-etcd join does, and takes it out again on rollback.

use super::client::{Client, EtcdError};
use serde_json::{json, Value};

/// One member as etcd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty for a member added but not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// What `member add` answered: the new member's id and the cluster's
/// members, the new one included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: u64,
    pub members: Vec<Member>,
}

fn id_of(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// The gateway's answer to `member add`, read.
pub fn parse_added(v: &Value) -> Result<Added, EtcdError> {
    let id = id_of(&v["member"]["ID"]);
    if id == 0 {
        return Err(EtcdError::Failed(format!(
            "member add answered without a member ID: {v}"
        )));
    }
    let members = v["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| Member {
                    id: id_of(&m["ID"]),
                    name: m["name"].as_str().unwrap_or("").to_string(),
                    peer_urls: strings(&m["peerURLs"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Added { id, members })
}

impl Added {
    /// etcd's --initial-cluster for the new member `name`, as kubeadm
    /// builds it from the answer: every member by name, the new one (still
    /// nameless in etcd) by the name it will start with.
    pub fn initial_cluster(&self, name: &str) -> String {
        self.members
            .iter()
            .flat_map(|m| {
                let n = if m.id == self.id { name } else { m.name.as_str() };
                m.peer_urls.iter().map(move |u| format!("{n}={u}"))
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Add a voting member that will listen for peers on `peer_url`.
pub async fn add(client: &Client, peer_url: &str) -> Result<Added, EtcdError> {
    let v = client
        .call("/v3/cluster/member/add", json!({"peerURLs": [peer_url]}))
        .await?;
    parse_added(&v)
}

/// Remove the member `id` (a rollback of [`add`]).
pub async fn remove(client: &Client, id: u64) -> Result<(), EtcdError> {
    client
        .call("/v3/cluster/member/remove", json!({"ID": id.to_string()}))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_cluster_names_the_new_member_as_it_will_start() {
        // As etcd 3.4's gateway answers: 64-bit IDs as strings, the new
        // member without a name.
        let v = json!({
            "header": {"cluster_id": "1", "member_id": "2", "revision": "9", "raft_term": "2"},
            "member": {"ID": "1234", "peerURLs": ["http://10.168.0.3:2380"]},
            "members": [
                {"ID": "99", "name": "node-0", "peerURLs": ["http://10.168.0.2:2380"], "clientURLs": ["http://10.168.0.2:2379"]},
                {"ID": "1234", "peerURLs": ["http://10.168.0.3:2380"]}
            ]
        });
        let a = parse_added(&v).unwrap();
        assert_eq!(a.id, 1234);
        assert_eq!(a.members.len(), 2);
        assert_eq!(
            a.initial_cluster("node-1"),
            "node-0=http://10.168.0.2:2380,node-1=http://10.168.0.3:2380"
        );
        assert!(parse_added(&json!({"members": []})).is_err());
    }
}
