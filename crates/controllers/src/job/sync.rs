//! One Job sync as a pure function: pods to start and delete, and the new
//! status. Finished pods are kept (they are the Job's record: `kubectl
//! logs` reads them), so succeeded and failed are counted from the pods.
//! Replacements of failed pods start at once: the real controller's
//! exponential back-off between them is not modelled.

use std::cmp::Reverse;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::podutil;

#[derive(Debug, PartialEq)]
pub struct Sync {
    /// How many pods to start.
    pub create: usize,
    /// Pods to delete (surplus, or still running when the Job ended).
    pub delete: Vec<String>,
    pub status: JobStatus,
}

/// Why a Job ended, as condition reason and message.
const BACKOFF: (&str, &str) = (
    "BackoffLimitExceeded",
    "Job has reached the specified backoff limit",
);
const COMPLETIONS: (&str, &str) = ("CompletionsReached", "Reached expected number of succeeded pods");

pub fn has_condition(status: &JobStatus, kind: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

fn condition(kind: &str, why: (&str, &str), now: &Time) -> JobCondition {
    JobCondition {
        type_: kind.into(),
        status: "True".into(),
        reason: Some(why.0.into()),
        message: Some(why.1.into()),
        last_probe_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// `owned` are the pods whose controller is the Job.
pub fn sync(job: &Job, owned: &[&Pod], now: &Time) -> Sync {
    let spec = job.spec.clone().unwrap_or_default();
    let prev = job.status.clone().unwrap_or_default();
    let finished = has_condition(&prev, "Complete") || has_condition(&prev, "Failed");
    let active: Vec<&Pod> = owned.iter().copied().filter(|p| podutil::is_active(p)).collect();
    let terminating = owned.iter().filter(|p| podutil::is_terminating(p)).count() as i32;
    let count = |phase: &str| owned.iter().filter(|p| podutil::phase(p) == phase).count() as i32;
    let (succeeded, failed) = (count("Succeeded"), count("Failed"));
    let names = |ps: &[&Pod]| ps.iter().map(|p| p.name_any()).collect::<Vec<_>>();
    if finished {
        // An ended Job only stops what still runs; its record stays.
        return Sync {
            create: 0,
            delete: names(&active),
            status: prev,
        };
    }
    let mut st = JobStatus {
        start_time: prev.start_time.clone().or_else(|| Some(now.clone())),
        conditions: prev.conditions.clone(),
        succeeded: Some(succeeded),
        failed: Some(failed),
        terminating: Some(terminating),
        ..Default::default()
    };
    let add = |st: &mut JobStatus, kind: &str, why| {
        if !has_condition(st, kind) {
            st.conditions
                .get_or_insert_with(Vec::new)
                .push(condition(kind, why, now));
        }
    };
    // With OnFailure the node restarts failed containers in place: those
    // restarts count against the limit as failed pods would.
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    let restarts: i32 = if on_failure {
        active
            .iter()
            .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
            .flatten()
            .map(|c| c.restart_count)
            .sum()
    } else {
        0
    };
    let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
    let (create, delete, ended) = if failed + restarts > spec.backoff_limit.unwrap_or(6) {
        add(&mut st, "FailureTarget", BACKOFF);
        (0, names(&active), Some(("Failed", BACKOFF)))
    } else if match spec.completions {
        Some(c) => succeeded >= c,
        // A work queue is done when one pod succeeded and none runs.
        None => succeeded > 0 && active.is_empty(),
    } {
        add(&mut st, "SuccessCriteriaMet", COMPLETIONS);
        (0, names(&active), Some(("Complete", COMPLETIONS)))
    } else {
        let want = match spec.completions {
            Some(c) => parallelism.min((c - succeeded).max(0) as usize),
            None if succeeded == 0 => parallelism,
            None => active.len().min(parallelism),
        };
        let mut extra = active.clone();
        // Surplus: the youngest go first.
        extra.sort_by_key(|p| Reverse((p.metadata.creation_timestamp.clone().map(|t| t.0), p.name_any())));
        let surplus = active.len().saturating_sub(want);
        (want.saturating_sub(active.len()), names(&extra[..surplus]), None)
    };
    let left = active.len() - delete.len();
    st.active = Some(left as i32);
    st.ready = Some(active.iter().filter(|p| podutil::is_ready(p)).count() as i32);
    // The final condition waits until no pod of the Job runs or terminates.
    if let Some((kind, why)) = ended {
        if delete.is_empty() && terminating == 0 {
            add(&mut st, kind, why);
            if kind == "Complete" {
                st.completion_time = Some(now.clone());
            }
        }
    }
    Sync {
        create,
        delete,
        status: st,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(spec: serde_json::Value) -> Job {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"restartPolicy": spec["restartPolicy"].as_str().unwrap_or("Never"), "containers": []}});
        serde_json::from_value(json!({"metadata": {"name": "j", "uid": "u"}, "spec": spec})).unwrap()
    }

    fn pod(name: &str, phase: &str, restarts: i32) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": []},
            "status": {"phase": phase, "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": restarts}]}}))
        .unwrap()
    }

    fn now() -> Time {
        Time("2024-01-01T00:01:00Z".parse().unwrap())
    }

    fn kinds(s: &JobStatus) -> Vec<&str> {
        s.conditions.iter().flatten().map(|c| c.type_.as_str()).collect()
    }

    #[test]
    fn runs_parallel_pods_up_to_its_completions() {
        let j = job(json!({"completions": 3, "parallelism": 2, "backoffLimit": 6}));
        let s = sync(&j, &[], &now());
        assert_eq!(
            (s.create, s.status.active, s.status.start_time.is_some()),
            (2, Some(0), true)
        );
        // Two succeeded: one more to go, one at a time.
        let (a, b) = (pod("a", "Succeeded", 0), pod("b", "Succeeded", 0));
        let s = sync(&j, &[&a, &b], &now());
        assert_eq!((s.create, s.status.succeeded), (1, Some(2)));
        let c = pod("c", "Succeeded", 0);
        let s = sync(&j, &[&a, &b, &c], &now());
        assert_eq!(s.create, 0);
        assert_eq!(kinds(&s.status), vec!["SuccessCriteriaMet", "Complete"]);
        assert_eq!(s.status.completion_time, Some(now()));
    }

    #[test]
    fn stops_at_the_backoff_limit() {
        let j = job(json!({"completions": 1, "parallelism": 1, "backoffLimit": 1}));
        let f1 = pod("f1", "Failed", 0);
        let s = sync(&j, &[&f1], &now());
        assert_eq!((s.create, s.status.failed), (1, Some(1)), "one retry left");
        let (f2, running) = (pod("f2", "Failed", 0), pod("r", "Running", 0));
        let s = sync(&j, &[&f1, &f2, &running], &now());
        assert_eq!((s.create, s.delete.clone()), (0, vec!["r".to_string()]));
        assert_eq!(
            kinds(&s.status),
            vec!["FailureTarget"],
            "Failed waits for the running pod"
        );
        let s = sync(&j, &[&f1, &f2], &now());
        assert_eq!(kinds(&s.status), vec!["FailureTarget", "Failed"]);
        assert_eq!(s.status.completion_time, None);
        // A finished Job stays as it is.
        let mut done = j.clone();
        done.status = Some(s.status.clone());
        assert_eq!(sync(&done, &[&f1, &f2], &now()).status, s.status);
    }

    #[test]
    fn on_failure_counts_container_restarts() {
        let j = job(json!({"completions": 1, "backoffLimit": 2, "restartPolicy": "OnFailure"}));
        let p = pod("p", "Running", 3);
        let s = sync(&j, &[&p], &now());
        assert_eq!(s.delete, vec!["p"]);
        assert!(has_condition(&s.status, "FailureTarget"));
    }
}
