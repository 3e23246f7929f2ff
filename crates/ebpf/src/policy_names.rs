//! Names for the policy drops `observe` reports: the programs know an
//! address and a direction; the agent writes which pod that is and which
//! policies isolate it (`POLICY_NAMES_FILE`) after each policy sync.

use std::path::PathBuf;
use std::time::SystemTime;

use labyrinth_contracts::bpf::policy::{
    PolicyNameRow, DROP_POLICY_EGRESS, DROP_POLICY_INGRESS, POLICY_NAMES_FILE,
};

use crate::events::{drop_reason, Flow};

pub struct PolicyNames {
    path: PathBuf,
    read: Option<SystemTime>,
    rows: Vec<PolicyNameRow>,
}

impl Default for PolicyNames {
    fn default() -> Self {
        Self::at(POLICY_NAMES_FILE.into())
    }
}

impl PolicyNames {
    pub fn at(path: PathBuf) -> Self {
        PolicyNames {
            path,
            read: None,
            rows: vec![],
        }
    }

    /// The file again when it changed since (a sync rewrote it).
    fn refresh(&mut self) {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if modified.is_some() && modified != self.read {
            if let Some(rows) = std::fs::read(&self.path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                self.rows = rows;
                self.read = modified;
            }
        }
    }

    /// Fill in `flow.policy` when it is a policy drop of a pod named here.
    pub fn name(&mut self, flow: &mut Flow) {
        let (dir, ip) = match flow.drop_reason {
            Some(r) if r == drop_reason(DROP_POLICY_INGRESS) => ("ingress", *flow.dst.ip()),
            Some(r) if r == drop_reason(DROP_POLICY_EGRESS) => ("egress", *flow.src.ip()),
            _ => return,
        };
        self.refresh();
        if let Some(row) = self.rows.iter().find(|r| r.pod_ip == ip && r.direction == dir) {
            flow.policy = Some(format!(
                "{} isolated for {dir} by {}",
                row.pod,
                row.isolated_by.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_drop_gets_its_pod_and_policies() {
        let dir = std::env::temp_dir().join(format!("lby-polnames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("names.json");
        let rows = vec![PolicyNameRow {
            pod_ip: "10.0.2.5".parse().unwrap(),
            direction: "ingress".into(),
            pod: "x/b".into(),
            isolated_by: vec!["x/deny-all".into()],
        }];
        std::fs::write(&path, serde_json::to_vec(&rows).unwrap()).unwrap();
        let mut names = PolicyNames::at(path);
        let mut flow = Flow {
            time: SystemTime::UNIX_EPOCH,
            point: "drop",
            verdict: "DROPPED",
            drop_reason: Some(drop_reason(DROP_POLICY_INGRESS)),
            proto: "TCP".into(),
            src: "10.0.1.3:40000".parse().unwrap(),
            dst: "10.0.2.5:80".parse().unwrap(),
            tcp_flags: vec!["SYN"],
            service: None,
            frontend: None,
            backend: None,
            reply: false,
            ifindex: 3,
            len: 60,
            policy: None,
        };
        names.name(&mut flow);
        assert_eq!(
            flow.policy.as_deref(),
            Some("x/b isolated for ingress by x/deny-all")
        );
        assert!(
            flow.to_string()
                .contains("(default deny)) [x/b isolated for ingress by x/deny-all]"),
            "{flow}"
        );
        let mut other = flow.clone();
        other.policy = None;
        other.drop_reason = Some(drop_reason(DROP_POLICY_EGRESS));
        names.name(&mut other);
        assert_eq!(other.policy, None, "10.0.1.3 is not isolated for egress");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
