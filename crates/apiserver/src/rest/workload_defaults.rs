//! Defaults the real server fills in DaemonSets (the pod template's own
//! defaults come from the Pod's, in admit).

use serde_json::{json, Value};

pub fn daemonset(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if spec.get("updateStrategy").is_none_or(Value::is_null) {
        spec["updateStrategy"] = json!({"type": "RollingUpdate"});
    }
    let strategy = &mut spec["updateStrategy"];
    if strategy.get("type").is_none_or(Value::is_null) {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy["type"] == "RollingUpdate" {
        if strategy.get("rollingUpdate").is_none_or(Value::is_null) {
            strategy["rollingUpdate"] = json!({});
        }
        let ru = &mut strategy["rollingUpdate"];
        for (k, v) in [("maxUnavailable", 1), ("maxSurge", 0)] {
            if ru.get(k).is_none_or(Value::is_null) {
                ru[k] = json!(v);
            }
        }
    }
    if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
        spec["revisionHistoryLimit"] = json!(10);
    }
}

/// The labels a Job's pods carry, under their legacy and current names.
const JOB_NAME_LABELS: [&str; 2] = ["job-name", "batch.kubernetes.io/job-name"];
const JOB_UID_LABELS: [&str; 2] = ["controller-uid", "batch.kubernetes.io/controller-uid"];

/// A Job's defaults, and (without `manualSelector`) the selector the real
/// server generates: the Job's uid, which the template's labels then carry
/// with the Job's name. Runs after the uid is set.
pub fn job(obj: &mut Value) {
    let name = obj["metadata"]["name"].clone();
    let uid = obj["metadata"]["uid"].clone();
    let spec = &mut obj["spec"];
    if spec.get("parallelism").is_none_or(Value::is_null) {
        spec["parallelism"] = json!(1);
    }
    // Completions stay unset when only parallelism was given (a work queue).
    if spec.get("completions").is_none_or(Value::is_null) && spec["parallelism"] == 1 {
        spec["completions"] = json!(1);
    }
    for (k, v) in [
        ("backoffLimit", json!(6)),
        ("completionMode", json!("NonIndexed")),
        ("suspend", json!(false)),
        ("manualSelector", Value::Null),
        ("podReplacementPolicy", json!("TerminatingOrFailed")),
    ] {
        if spec.get(k).is_none_or(Value::is_null) && !v.is_null() {
            spec[k] = v;
        }
    }
    if spec["manualSelector"] == true || uid.is_null() {
        return;
    }
    if spec.get("selector").is_none_or(Value::is_null) {
        spec["selector"] = json!({"matchLabels": {JOB_UID_LABELS[1]: uid}});
    }
    let tmeta = &mut spec["template"]["metadata"];
    if !tmeta["labels"].is_object() {
        tmeta["labels"] = json!({});
    }
    for k in JOB_UID_LABELS {
        tmeta["labels"][k] = uid.clone();
    }
    for k in JOB_NAME_LABELS {
        tmeta["labels"][k] = name.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_gets_its_selector_and_labels() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
        job(&mut j);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        let l = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            (l["job-name"].as_str(), l["controller-uid"].as_str()),
            (Some("pi"), Some("u-1"))
        );
        assert_eq!(
            (
                j["spec"]["completions"].as_i64(),
                j["spec"]["backoffLimit"].as_i64()
            ),
            (Some(1), Some(6))
        );
        let mut queue =
            json!({"metadata": {"name": "q", "uid": "u"}, "spec": {"parallelism": 3, "template": {}}});
        job(&mut queue);
        assert!(queue["spec"]["completions"].is_null());
    }
}
