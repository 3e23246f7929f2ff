//! The pod's STATUS and RESTARTS while its init containers run, as the
//! real printer shows them: `Init:1/2` (the second of two runs or waits to
//! run), `Init:CrashLoopBackOff` (one waits out its restart back-off),
//! `Init:Error` (one ended otherwise than with 0), the restarts being the
//! init containers' own.

use super::table_cells::{arr, str_at};
use serde_json::Value;

/// (STATUS, RESTARTS) of a pod whose init containers have not all
/// completed, from its `status.initContainerStatuses`; None once they
/// have, or once the pod is Initialized.
pub(super) fn initializing(o: &Value) -> Option<(String, i64)> {
    let total = arr(o, "/spec/initContainers").len();
    let statuses = arr(o, "/status/initContainerStatuses");
    let initialized = arr(o, "/status/conditions")
        .iter()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    if statuses.is_empty() || initialized {
        return None;
    }
    let restarts = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    for (i, c) in statuses.iter().enumerate() {
        let ended = c.pointer("/state/terminated");
        let waiting = str_at(c, "/state/waiting/reason");
        let reason = match ended {
            Some(t) if t["exitCode"].as_i64() == Some(0) => continue,
            Some(t) => match t["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t["signal"].as_i64().unwrap_or(0) != 0 => {
                    format!("Init:Signal:{}", t["signal"])
                }
                None => format!("Init:ExitCode:{}", t["exitCode"]),
            },
            None if !waiting.is_empty() && waiting != "PodInitializing" => format!("Init:{waiting}"),
            None => format!("Init:{i}/{total}"),
        };
        return Some((reason, restarts));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: Value, initialized: &str) -> Value {
        json!({
            "spec": {"initContainers": [{"name": "a"}, {"name": "b"}]},
            "status": {"initContainerStatuses": statuses,
                "conditions": [{"type": "Initialized", "status": initialized}]}
        })
    }

    #[test]
    fn shows_progress_back_off_and_failure_as_the_real_printer() {
        let done =
            json!({"restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
        let running = json!({"restartCount": 0, "state": {"running": {}}});
        let queued = json!({"restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}});
        let backoff = json!({"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}});
        let failed = json!({"restartCount": 0, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}});
        let cases = [
            (json!([running.clone(), queued.clone()]), "Init:0/2", 0),
            (json!([done.clone(), running]), "Init:1/2", 0),
            (json!([done.clone(), backoff]), "Init:CrashLoopBackOff", 3),
            (json!([failed, queued]), "Init:Error", 0),
        ];
        for (st, want, restarts) in cases {
            assert_eq!(
                initializing(&pod(st.clone(), "False")),
                Some((want.to_string(), restarts)),
                "{st}"
            );
        }
        let all = json!([done.clone(), done]);
        assert_eq!(initializing(&pod(all.clone(), "False")), None);
        assert_eq!(initializing(&pod(all, "True")), None);
        assert_eq!(initializing(&json!({"spec": {}, "status": {}})), None);
    }
}
