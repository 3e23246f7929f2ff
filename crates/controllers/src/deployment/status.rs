//! Deployment status from its ReplicaSets, with the Available and Progressing
//! conditions `kubectl rollout status` and `kubectl get deploy` read.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::rollout::desired_replicas;

/// maxUnavailable resolved against `replicas` (percentages round down, as
/// Kubernetes does); 25% when unset. Recreate tolerates everything.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let want = desired_replicas(d);
    let strategy = d.spec.strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return want;
    }
    let v = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::String("25%".into()));
    let n = match v {
        IntOrString::Int(i) => i,
        IntOrString::String(s) => s
            .trim_end_matches('%')
            .parse::<i32>()
            .map(|p| want * p / 100)
            .unwrap_or(0),
    };
    n.clamp(0, want)
}

fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

/// The status to write. Conditions keep their previous timestamps while their
/// status, reason and message stay the same, so an unchanged Deployment gives
/// an identical status and needs no write.
pub fn compute(d: &Deployment, owned: &[&ReplicaSet], new_rs: &str, now: Time) -> DeploymentStatus {
    let want = desired_replicas(d);
    let (mut replicas, mut ready, mut available, mut updated) = (0, 0, 0, 0);
    for rs in owned {
        let (r, rd, a) = rs_status(rs);
        replicas += r;
        ready += rd;
        available += a;
        if rs.name_any() == new_rs {
            updated = r;
        }
    }
    let prev = d.status.clone().unwrap_or_default();
    let new_available = owned
        .iter()
        .find(|rs| rs.name_any() == new_rs)
        .map(|rs| rs_status(rs).2)
        .unwrap_or(0);

    let available_cond = if available >= want - max_unavailable(d) {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_string(),
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_string(),
        )
    };
    let progressing_cond = if updated == want && replicas == want && new_available >= want {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_rs}\" has successfully progressed."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_rs}\" is progressing."),
        )
    };
    let conditions = vec![
        condition(&prev, "Available", available_cond, &now),
        condition(&prev, "Progressing", progressing_cond, &now),
    ];
    DeploymentStatus {
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        unavailable_replicas: Some((want - available).max(0)),
        observed_generation: d.metadata.generation,
        collision_count: prev.collision_count,
        conditions: Some(conditions),
        terminating_replicas: None,
    }
}

fn condition(
    prev: &DeploymentStatus,
    type_: &str,
    (status, reason, message): (&str, &str, String),
    now: &Time,
) -> DeploymentCondition {
    let old = prev
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_));
    let same_status = old.is_some_and(|c| c.status.as_deref() == Some(status));
    let same_all = same_status
        && old.is_some_and(|c| {
            c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message.as_str())
        });
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: if same_status {
            old.and_then(|c| c.last_transition_time.clone())
        } else {
            Some(now.clone())
        },
        last_update_time: if same_all {
            old.and_then(|c| c.last_update_time.clone())
        } else {
            Some(now.clone())
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(replicas: i32, max_unavail: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": 4},
            "spec": {
                "replicas": replicas,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavail}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
            }
        }))
        .unwrap()
    }

    fn rs(name: &str, pods: i32, ready: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"replicas": pods, "readyReplicas": ready, "availableReplicas": ready}
        }))
        .unwrap()
    }

    fn t(s: &str) -> Time {
        serde_json::from_value(json!(s)).unwrap()
    }

    #[test]
    fn max_unavailable_rounds_percent_down() {
        assert_eq!(max_unavailable(&deploy(1, json!("25%"))), 0);
        assert_eq!(max_unavailable(&deploy(4, json!("25%"))), 1);
        assert_eq!(max_unavailable(&deploy(10, json!("33%"))), 3);
        assert_eq!(max_unavailable(&deploy(3, json!(5))), 3);
    }

    #[test]
    fn one_of_one_ready_is_available_and_complete() {
        let d = deploy(1, json!("25%"));
        let r = rs("web-abc", 1, 1);
        let s = compute(&d, &[&r], "web-abc", t("2024-01-01T00:00:00Z"));
        assert_eq!(
            (
                s.replicas,
                s.ready_replicas,
                s.available_replicas,
                s.updated_replicas,
                s.unavailable_replicas
            ),
            (Some(1), Some(1), Some(1), Some(1), Some(0))
        );
        assert_eq!(s.observed_generation, Some(4));
        let c = s.conditions.as_ref().unwrap();
        assert_eq!(
            (c[0].type_.as_deref(), c[0].status.as_deref()),
            (Some("Available"), Some("True"))
        );
        assert_eq!(c[1].reason.as_deref(), Some("NewReplicaSetAvailable"));
        assert_eq!(
            c[1].message.as_deref(),
            Some("ReplicaSet \"web-abc\" has successfully progressed.")
        );
    }

    #[test]
    fn not_ready_pod_is_unavailable_and_progressing() {
        let d = deploy(1, json!("25%"));
        let r = rs("web-abc", 1, 0);
        let s = compute(&d, &[&r], "web-abc", t("2024-01-01T00:00:00Z"));
        let c = s.conditions.unwrap();
        assert_eq!(
            (c[0].status.as_deref(), c[0].reason.as_deref()),
            (Some("False"), Some("MinimumReplicasUnavailable"))
        );
        assert_eq!(c[1].reason.as_deref(), Some("ReplicaSetUpdated"));
        assert_eq!(s.unavailable_replicas, Some(1));
    }

    #[test]
    fn old_replica_sets_count_in_totals_not_updated() {
        let d = deploy(2, json!(0));
        let old = rs("web-old", 2, 2);
        let new = rs("web-new", 1, 0);
        let s = compute(&d, &[&old, &new], "web-new", t("2024-01-01T00:00:00Z"));
        assert_eq!(
            (s.replicas, s.updated_replicas, s.ready_replicas),
            (Some(3), Some(1), Some(2))
        );
    }

    #[test]
    fn unchanged_state_gives_identical_status() {
        let mut d = deploy(1, json!("25%"));
        let r = rs("web-abc", 1, 1);
        let s1 = compute(&d, &[&r], "web-abc", t("2024-01-01T00:00:00Z"));
        d.status = Some(s1.clone());
        let s2 = compute(&d, &[&r], "web-abc", t("2024-01-02T00:00:00Z"));
        assert_eq!(s1, s2);
        // A change of state moves the transition time.
        let r0 = rs("web-abc", 1, 0);
        let s3 = compute(&d, &[&r0], "web-abc", t("2024-01-03T00:00:00Z"));
        assert_eq!(
            s3.conditions.unwrap()[0].last_transition_time,
            Some(t("2024-01-03T00:00:00Z"))
        );
    }
}
