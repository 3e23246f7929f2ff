//! Table columns of the workload kinds beyond Deployments and ReplicaSets
//! (DaemonSet, Job), as the real server prints them.

use super::table_cells::{age, col, containers_images, int_at, selector_string};
use serde_json::{json, Value};

/// The columns of `kind`, if this file prints it.
pub fn columns(kind: &str) -> Option<Vec<Value>> {
    let s = |n: &str| col(n, "string", 0);
    let i = |n: &str| col(n, "integer", 0);
    let w = |n: &str| col(n, "string", 1);
    Some(match kind {
        "DaemonSet" => vec![
            s("Name"),
            i("Desired"),
            i("Current"),
            i("Ready"),
            i("Up-to-date"),
            i("Available"),
            s("Node Selector"),
            s("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "Job" => vec![
            s("Name"),
            s("Status"),
            s("Completions"),
            s("Duration"),
            s("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        _ => return None,
    })
}

/// The cells after the name, in `columns` order.
pub fn cells(kind: &str, o: &Value) -> Vec<Value> {
    match kind {
        "DaemonSet" => {
            let (c, i) = containers_images(o);
            vec![
                json!(int_at(o, "/status/desiredNumberScheduled")),
                json!(int_at(o, "/status/currentNumberScheduled")),
                json!(int_at(o, "/status/numberReady")),
                json!(int_at(o, "/status/updatedNumberScheduled")),
                json!(int_at(o, "/status/numberAvailable")),
                json!(selector_string(o.pointer("/spec/template/spec/nodeSelector"))),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_string(o.pointer("/spec/selector/matchLabels"))),
            ]
        }
        "Job" => {
            let (c, i) = containers_images(o);
            vec![
                json!(job_status(o)),
                json!(job_completions(o)),
                json!(job_duration(o)),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_string(o.pointer("/spec/selector/matchLabels"))),
            ]
        }
        _ => vec![json!(age(o))],
    }
}

fn has_condition(o: &Value, kind: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// The first that holds, in the real printer's order.
fn job_status(o: &Value) -> &'static str {
    if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if o
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// "2/3"; without completions (a work queue) "0/1", or "0/1 of 4" when
/// several run in parallel.
fn job_completions(o: &Value) -> String {
    let done = int_at(o, "/status/succeeded");
    match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{done}/{c}"),
        None => match int_at(o, "/spec/parallelism") {
            p if p > 1 => format!("{done}/1 of {p}"),
            _ => format!("{done}/1"),
        },
    }
}

/// From the start to completion, or to now while it runs; empty before it starts.
fn job_duration(o: &Value) -> String {
    let at = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let Some(start) = at("/status/startTime") else {
        return String::new();
    };
    let end = at("/status/completionTime").unwrap_or_else(jiff::Timestamp::now);
    super::table_cells::human_duration(end.as_second() - start.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_row_lines_up_with_its_columns() {
        let ds = json!({"metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                "template": {"spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 1, "numberAvailable": 2}});
        let c = cells("DaemonSet", &ds);
        assert_eq!(c.len() + 1, columns("DaemonSet").unwrap().len());
        assert_eq!(
            c[..6],
            [
                json!(3),
                json!(3),
                json!(2),
                json!(1),
                json!(2),
                json!("disk=ssd")
            ]
        );
        assert_eq!(c[9], "app=x");
    }

    #[test]
    fn job_row_reads_like_kubectl() {
        let j = json!({"metadata": {"name": "j"}, "spec": {"completions": 3, "parallelism": 2},
            "status": {"succeeded": 3, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:07Z",
                "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        let c = cells("Job", &j);
        assert_eq!(c.len() + 1, columns("Job").unwrap().len());
        assert_eq!(c[..3], [json!("Complete"), json!("3/3"), json!("7s")]);
        let queue = json!({"metadata": {"name": "q"}, "spec": {"parallelism": 4}, "status": {}});
        assert_eq!(
            cells("Job", &queue)[..3],
            [json!("Running"), json!("0/1 of 4"), json!("")]
        );
    }
}
