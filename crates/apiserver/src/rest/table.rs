//! Table responses (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`)
//! with the columns the real server prints for each kind.

pub use super::table_cells::human_duration;
use super::table_cells::{age, arr, col, containers_images, int_at, or_none, selector_string, str_at};
use crate::resources::ResourceDef;
use serde_json::{json, Value};

/// Does the Accept header ask for a Table?
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

pub fn columns(res: &ResourceDef) -> Vec<Value> {
    let s = |n: &str| col(n, "string", 0);
    let w = |n: &str| col(n, "string", 1);
    if let Some(c) =
        super::table_workloads::columns(res.kind).or_else(|| super::table_rbac::columns(res.kind))
    {
        return c;
    }
    match res.kind {
        "Pod" => vec![
            s("Name"),
            s("Ready"),
            s("Status"),
            col("Restarts", "string", 0),
            s("Age"),
            w("IP"),
            w("Node"),
            w("Nominated Node"),
            w("Readiness Gates"),
        ],
        "Node" => vec![
            s("Name"),
            s("Status"),
            s("Roles"),
            s("Age"),
            s("Version"),
            w("Internal-IP"),
            w("External-IP"),
            w("OS-Image"),
            w("Kernel-Version"),
            w("Container-Runtime"),
        ],
        "Service" => vec![
            s("Name"),
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            s("Age"),
            w("Selector"),
        ],
        "Deployment" => vec![
            s("Name"),
            s("Ready"),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            s("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "ReplicaSet" => vec![
            s("Name"),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            s("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "EndpointSlice" => vec![s("Name"), s("AddressType"), s("Ports"), s("Endpoints"), s("Age")],
        "Endpoints" => vec![s("Name"), s("Endpoints"), s("Age")],
        "ServiceAccount" => vec![s("Name"), col("Secrets", "integer", 0), s("Age")],
        "Namespace" => vec![s("Name"), s("Status"), s("Age")],
        "ConfigMap" => vec![s("Name"), col("Data", "integer", 0), s("Age")],
        "Secret" => vec![s("Name"), s("Type"), col("Data", "integer", 0), s("Age")],
        "Lease" => vec![s("Name"), s("Holder"), s("Age")],
        // The name is a wide column at the end, as the real printer has it.
        "Event" => vec![
            s("Last Seen"),
            s("Type"),
            s("Reason"),
            s("Object"),
            s("Message"),
            col("Name", "string", 1),
        ],
        "NetworkPolicy" => vec![s("Name"), s("Pod-Selector"), s("Age")],
        _ => vec![s("Name"), s("Age")],
    }
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let total = arr(o, "/spec/containers").len();
    let statuses = arr(o, "/status/containerStatuses");
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let mut restarts: i64 = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let mut status = str_at(o, "/status/phase").to_string();
    if !str_at(o, "/status/reason").is_empty() {
        status = str_at(o, "/status/reason").to_string();
    }
    for c in statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            status = r.to_string();
        }
    }
    if let Some((init, init_restarts)) = super::table_pod_init::initializing(o) {
        (status, restarts) = (init, init_restarts);
    }
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        status = "Terminating".into();
    }
    if status.is_empty() {
        status = "Pending".into();
    }
    let gates = arr(o, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(o, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| {
                conds
                    .iter()
                    .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts.to_string()),
        json!(age(o)),
        json!(or_none(str_at(o, "/status/podIP").into())),
        json!(or_none(str_at(o, "/spec/nodeName").into())),
        json!(or_none(str_at(o, "/status/nominatedNodeName").into())),
        json!(gates),
    ]
}

fn node_cells(o: &Value) -> Vec<Value> {
    let conds = arr(o, "/status/conditions");
    let mut status = match conds
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
    {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_string();
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(r.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let addr = |t: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| a["type"] == t)
            .and_then(|a| a["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        json!(status),
        json!(or_none(roles.join(","))),
        json!(age(o)),
        json!(str_at(o, "/status/nodeInfo/kubeletVersion")),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(or_none(str_at(o, "/status/nodeInfo/osImage").into())),
        json!(or_none(str_at(o, "/status/nodeInfo/kernelVersion").into())),
        json!(or_none(
            str_at(o, "/status/nodeInfo/containerRuntimeVersion").into()
        )),
    ]
}

fn service_cells(o: &Value) -> Vec<Value> {
    let ty = str_at(o, "/spec/type");
    let ty = if ty.is_empty() { "ClusterIP" } else { ty };
    // As kubectl's printer: the balancer's addresses (or host names)
    // first, then spec.externalIPs; `<pending>` only for a LoadBalancer.
    let mut ext: Vec<String> = Vec::new();
    if ty == "LoadBalancer" {
        for i in arr(o, "/status/loadBalancer/ingress") {
            if let Some(a) = i["ip"].as_str().or(i["hostname"].as_str()) {
                ext.push(a.to_string());
            }
        }
    }
    ext.extend(
        arr(o, "/spec/externalIPs")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string)),
    );
    let ext = match ty {
        "ExternalName" => str_at(o, "/spec/externalName").to_string(),
        _ if !ext.is_empty() => ext.join(","),
        "LoadBalancer" => "<pending>".into(),
        _ => "<none>".into(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(np) if np > 0 => format!("{}:{np}/{proto}", p["port"]),
                _ => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    let cip = str_at(o, "/spec/clusterIP");
    vec![
        json!(ty),
        json!(if cip.is_empty() { "<none>" } else { cip }),
        json!(ext),
        json!(or_none(ports.join(","))),
        json!(age(o)),
        json!(selector_string(o.pointer("/spec/selector"))),
    ]
}

fn endpointslice_cells(o: &Value) -> Vec<Value> {
    let ports: Vec<String> = arr(o, "/ports").iter().map(|p| p["port"].to_string()).collect();
    let ports = if ports.is_empty() {
        "<unset>".to_string()
    } else {
        ports.join(",")
    };
    let addrs: Vec<String> = arr(o, "/endpoints")
        .iter()
        .flat_map(|e| {
            arr(e, "/addresses")
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
        })
        .collect();
    let eps = if addrs.is_empty() {
        "<unset>".to_string()
    } else if addrs.len() > 3 {
        format!("{} + {} more...", addrs[..3].join(","), addrs.len() - 3)
    } else {
        addrs.join(",")
    };
    vec![
        json!(str_at(o, "/addressType")),
        json!(ports),
        json!(eps),
        json!(age(o)),
    ]
}

/// The ready addresses of an Endpoints as kubectl's printer lists them:
/// ip:port for each port of each subset (the ip alone when a subset has no
/// ports), the first three, then how many more.
fn endpoints_cell(o: &Value) -> String {
    let mut list = Vec::new();
    for sub in arr(o, "/subsets") {
        let ports = arr(sub, "/ports");
        for a in arr(sub, "/addresses") {
            let ip = a["ip"].as_str().unwrap_or("");
            if ports.is_empty() {
                list.push(ip.to_string());
            }
            for p in ports {
                list.push(format!("{ip}:{}", p["port"]));
            }
        }
    }
    match list.len() {
        0 => "<none>".into(),
        n if n > 3 => format!("{} + {} more...", list[..3].join(","), n - 3),
        _ => list.join(","),
    }
}

/// When an event last happened, in either API's fields.
pub fn event_last_seen(o: &Value) -> Option<jiff::Timestamp> {
    [
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/deprecatedLastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| o.pointer(p).and_then(Value::as_str))
    .find_map(|t| t.parse().ok())
}

/// Last Seen, Type, Reason, Object, Message, Name of a core/v1 or
/// events.k8s.io/v1 Event.
fn event_cells(o: &Value) -> Vec<Value> {
    let seen = event_last_seen(o).map_or("<unknown>".to_string(), |t| {
        human_duration(jiff::Timestamp::now().as_second() - t.as_second())
    });
    let about = o.get("involvedObject").or_else(|| o.get("regarding"));
    let object = about.map_or(String::new(), |r| {
        format!(
            "{}/{}",
            r["kind"].as_str().unwrap_or("").to_lowercase(),
            r["name"].as_str().unwrap_or("")
        )
    });
    let message = o["message"].as_str().or(o["note"].as_str()).unwrap_or("");
    vec![
        json!(seen),
        json!(str_at(o, "/type")),
        json!(str_at(o, "/reason")),
        json!(object),
        json!(message),
        json!(str_at(o, "/metadata/name")),
    ]
}

pub fn cells(res: &ResourceDef, o: &Value) -> Vec<Value> {
    if res.kind == "Event" {
        return event_cells(o);
    }
    let name = json!(str_at(o, "/metadata/name"));
    let mut rest = match res.kind {
        k if super::table_workloads::columns(k).is_some() => super::table_workloads::cells(k, o),
        k if super::table_rbac::columns(k).is_some() => super::table_rbac::cells(k, o),
        "Pod" => pod_cells(o),
        "Node" => node_cells(o),
        "Service" => service_cells(o),
        "EndpointSlice" => endpointslice_cells(o),
        "Endpoints" => vec![json!(endpoints_cell(o)), json!(age(o))],
        "ServiceAccount" => vec![json!(arr(o, "/secrets").len()), json!(age(o))],
        "Deployment" => {
            let (c, i) = containers_images(o);
            vec![
                json!(format!(
                    "{}/{}",
                    int_at(o, "/status/readyReplicas"),
                    int_at(o, "/spec/replicas")
                )),
                json!(int_at(o, "/status/updatedReplicas")),
                json!(int_at(o, "/status/availableReplicas")),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_string(o.pointer("/spec/selector/matchLabels"))),
            ]
        }
        "ReplicaSet" => {
            let (c, i) = containers_images(o);
            vec![
                json!(int_at(o, "/spec/replicas")),
                json!(int_at(o, "/status/replicas")),
                json!(int_at(o, "/status/readyReplicas")),
                json!(age(o)),
                json!(c),
                json!(i),
                json!(selector_string(o.pointer("/spec/selector/matchLabels"))),
            ]
        }
        "Namespace" => {
            let p = str_at(o, "/status/phase");
            vec![json!(if p.is_empty() { "Active" } else { p }), json!(age(o))]
        }
        "ConfigMap" => vec![json!(o["data"].as_object().map_or(0, |m| m.len())), json!(age(o))],
        "Secret" => vec![
            json!(str_at(o, "/type")),
            json!(o["data"].as_object().map_or(0, |m| m.len())),
            json!(age(o)),
        ],
        "Lease" => vec![
            json!(or_none(str_at(o, "/spec/holderIdentity").into())),
            json!(age(o)),
        ],
        // As kubectl prints it: an empty selector (every pod) shows <none>.
        "NetworkPolicy" => vec![
            json!(selector_string(o.pointer("/spec/podSelector/matchLabels"))),
            json!(age(o)),
        ],
        _ => vec![json!(age(o))],
    };
    let mut out = vec![name];
    out.append(&mut rest);
    out
}

/// One row; `include` is the includeObject parameter (None, Metadata, Object).
pub fn row(res: &ResourceDef, o: &Value, include: &str) -> Value {
    let mut r = json!({"cells": cells(res, o)});
    match include {
        "None" => {}
        "Object" => r["object"] = o.clone(),
        _ => {
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            })
        }
    }
    r
}

pub fn table(
    res: &ResourceDef,
    objs: &[&Value],
    rv: Option<u64>,
    include: &str,
    with_columns: bool,
) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "rows": objs.iter().map(|o| row(res, o, include)).collect::<Vec<_>>(),
    });
    if with_columns {
        t["columnDefinitions"] = Value::Array(columns(res));
    }
    if let Some(rv) = rv {
        t["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(3600 * 5 + 60 * 3), "5h3m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }
    #[test]
    fn pod_row_columns_line_up() {
        let res = crate::resources::by_kind("Pod").unwrap();
        let p = json!({"metadata":{"name":"p"},"spec":{"nodeName":"n1","containers":[{"name":"c"}]},
            "status":{"phase":"Running","podIP":"10.0.1.5","containerStatuses":[{"ready":true,"restartCount":2}]}});
        let c = cells(res, &p);
        assert_eq!(c.len(), columns(res).len());
        assert_eq!(c[1], "1/1");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "2");
        assert_eq!(c[5], "10.0.1.5");
        assert_eq!(c[6], "n1");
    }
}
