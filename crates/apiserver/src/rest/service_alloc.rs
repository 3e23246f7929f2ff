//! A Service's allocations as one transaction, as the real server's
//! service REST storage does them: the ClusterIP, a nodePort per port
//! (NodePort, LoadBalancer) and the healthCheckNodePort (LoadBalancer with
//! externalTrafficPolicy Local). [`allocate`] takes only what the object
//! holds and its previous version did not; a refused request gives all of
//! that back ([`Taken::rollback`]), a stored one releases what the previous
//! version held and this one does not ([`commit`]). So nothing stays
//! allocated for a 422, and nothing is released before the store agrees.

use super::status::{ApiError, ApiResult, FieldError};
use crate::alloc::ClusterIpAllocator;
use crate::nodeports::NodePortAllocator;
use crate::resources::ResourceDef;
use crate::service_type as ty;
use crate::state::AppState;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// What one [`allocate`] call took.
#[derive(Default)]
#[must_use = "roll back on a failed write"]
pub struct Taken {
    ip: Option<Ipv4Addr>,
    ports: Vec<u16>,
}

impl Taken {
    pub fn rollback(self, st: &AppState) {
        if let Some(ip) = self.ip {
            st.alloc.lock().unwrap().release(ip);
        }
        let mut np = st.node_ports.lock().unwrap();
        for p in self.ports {
            np.release(p);
        }
    }
}

fn cluster_ip(obj: &Value) -> Option<Ipv4Addr> {
    obj.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// Every node port `obj` holds (its ports' and the health check's).
fn held_ports(obj: &Value) -> HashSet<u16> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut out: HashSet<u16> = ty::node_ports(&spec)
        .into_iter()
        .chain([ty::health_check_node_port(&spec)])
        .filter_map(|p| u16::try_from(p).ok().filter(|p| *p != 0))
        .collect();
    if !ty::needs_node_ports(&spec) {
        out.retain(|p| i64::from(*p) == ty::health_check_node_port(&spec));
    }
    out
}

/// Mark what a stored Service holds (start-up replay).
pub fn replay(ips: &mut ClusterIpAllocator, ports: &mut NodePortAllocator, obj: &Value) {
    if let Some(ip) = cluster_ip(obj) {
        ips.mark(ip);
    }
    for p in held_ports(obj) {
        ports.mark(p);
    }
}

/// Give back everything a deleted Service held.
pub fn release_all(st: &AppState, obj: &Value) {
    if let Some(ip) = cluster_ip(obj) {
        st.alloc.lock().unwrap().release(ip);
    }
    let mut np = st.node_ports.lock().unwrap();
    for p in held_ports(obj) {
        np.release(p);
    }
}

/// After a stored update: release what `old` held and `new` does not.
pub fn commit(st: &AppState, old: &Value, new: &Value) {
    if let Some(ip) = cluster_ip(old).filter(|ip| cluster_ip(new) != Some(*ip)) {
        st.alloc.lock().unwrap().release(ip);
    }
    let keep = held_ports(new);
    let mut np = st.node_ports.lock().unwrap();
    for p in held_ports(old).difference(&keep) {
        np.release(*p);
    }
}

fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Allocate what `obj` (defaulted and validated) needs and `old` (its
/// stored version, on update) does not already hold.
pub fn allocate(st: &AppState, res: &ResourceDef, obj: &mut Value, old: Option<&Value>) -> ApiResult<Taken> {
    let mut taken = Taken::default();
    if res.kind != "Service" {
        return Ok(taken);
    }
    let r = allocate_into(st, res, obj, old, &mut taken);
    match r {
        Ok(()) => Ok(taken),
        Err(e) => {
            taken.rollback(st);
            Err(e)
        }
    }
}

fn allocate_into(
    st: &AppState,
    res: &ResourceDef,
    obj: &mut Value,
    old: Option<&Value>,
    taken: &mut Taken,
) -> ApiResult<()> {
    let name = name_of(obj);
    if ty::needs_cluster_ip(&obj["spec"]) && old.and_then(cluster_ip).is_none() {
        taken.ip = allocate_cluster_ip(st, res, &name, obj)?;
    }
    let already: HashSet<u16> = old.map(held_ports).unwrap_or_default();
    let spec = &mut obj["spec"];
    if ty::needs_node_ports(spec) {
        let mut np = st.node_ports.lock().unwrap();
        let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
        // Ports of this Service with the same number (TCP and UDP, say)
        // share one nodePort, as the real allocator gives them.
        let mut mine: Vec<(i64, i64)> = Vec::new();
        for (i, p) in ports.into_iter().flatten().enumerate() {
            let want = p["nodePort"].as_i64().unwrap_or(0);
            let port = p["port"].as_i64().unwrap_or(0);
            let got = if want != 0 {
                let ours = u16::try_from(want).is_ok_and(|w| already.contains(&w))
                    || mine.iter().any(|m| m.1 == want);
                if !ours {
                    let w = np.allocate(want).map_err(|e| {
                        ApiError::invalid(
                            res,
                            &name,
                            &[FieldError::invalid(
                                format!("spec.ports[{i}].nodePort"),
                                &json!(want),
                                &e.to_string(),
                            )],
                        )
                    })?;
                    taken.ports.push(w);
                }
                want
            } else if let Some(&(_, shared)) = mine.iter().find(|m| m.0 == port) {
                shared
            } else {
                next_free(&mut np, taken)?
            };
            p["nodePort"] = json!(got);
            mine.push((port, got));
        }
    }
    if ty::needs_health_check(spec) {
        let mut np = st.node_ports.lock().unwrap();
        let want = ty::health_check_node_port(spec);
        let got = if want != 0 {
            if !u16::try_from(want).is_ok_and(|w| already.contains(&w)) {
                let w = np.allocate(want).map_err(|e| {
                    ApiError::invalid(
                        res,
                        &name,
                        &[FieldError::invalid(
                            "spec.healthCheckNodePort",
                            &json!(want),
                            &format!("failed to allocate requested HealthCheck NodePort {want}: {e}"),
                        )],
                    )
                })?;
                taken.ports.push(w);
            }
            want
        } else {
            next_free(&mut np, taken)?
        };
        spec["healthCheckNodePort"] = json!(got);
    }
    Ok(())
}

/// A port the server picks; a full range is the server's failure (500), as
/// the real one reports it, not the client's.
fn next_free(np: &mut NodePortAllocator, taken: &mut Taken) -> ApiResult<i64> {
    let w = np
        .allocate_next()
        .map_err(|e| ApiError::internal(format!("failed to allocate a nodePort: {e}")))?;
    taken.ports.push(w);
    Ok(i64::from(w))
}

/// The Service's ClusterIP (None for headless): the one asked for, or the
/// next free one.
fn allocate_cluster_ip(
    st: &AppState,
    res: &ResourceDef,
    name: &str,
    obj: &mut Value,
) -> ApiResult<Option<Ipv4Addr>> {
    let want = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if want == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(None);
    }
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let requested = if want.is_empty() {
        None
    } else {
        Some(want.parse::<Ipv4Addr>().map_err(|_| {
            ApiError::invalid(
                res,
                name,
                &[FieldError::invalid(
                    "spec.clusterIPs[0]",
                    &json!(want),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )],
            )
        })?)
    };
    let ip = st
        .alloc
        .lock()
        .unwrap()
        .allocate(&ns, name, requested)
        .map_err(|e| {
            ApiError::invalid(
                res,
                name,
                &[FieldError {
                    reason: "FieldValueInvalid",
                    field: "spec.clusterIPs".into(),
                    message: format!("Invalid value: []string{{{:?}}}: {e}", want),
                }],
            )
        })?;
    let spec = &mut obj["spec"];
    spec["clusterIP"] = json!(ip.to_string());
    spec["clusterIPs"] = json!([ip.to_string()]);
    spec["ipFamilies"] = json!(["IPv4"]);
    spec["ipFamilyPolicy"] = json!("SingleStack");
    Ok(Some(ip))
}
