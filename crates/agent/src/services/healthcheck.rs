//! kube-proxy's service health checks: for each Service with
//! externalTrafficPolicy Local, an HTTP server on its healthCheckNodePort
//! in the node's network namespace that answers 200 while this node has a
//! local endpoint and 503 otherwise, so a cloud load balancer sends
//! outside traffic only to nodes that will not drop it. The body has
//! kube-proxy's shape.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use labyrinth_proxy::ServiceModel;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What one health check port reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub namespace: String,
    pub name: String,
    pub local_endpoints: usize,
}

impl Health {
    /// Status and body as kube-proxy's health check server writes them.
    pub fn answer(&self) -> (StatusCode, String) {
        let status = if self.local_endpoints > 0 {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::json!({
            "service": {"namespace": self.namespace, "name": self.name},
            "localEndpoints": self.local_endpoints,
            "serviceProxyHealthy": true,
        });
        (status, serde_json::to_string_pretty(&body).unwrap_or_default())
    }
}

/// The health check port → what it reports, from the model.
pub fn wanted(model: &ServiceModel) -> BTreeMap<u16, Health> {
    let mut out: BTreeMap<u16, Health> = BTreeMap::new();
    for sp in model.services.values() {
        let Some(port) = sp.node_port.filter(|np| np.local).and_then(|np| np.health_check) else {
            continue;
        };
        let local = sp.local_endpoints(model.node.as_ref()).len();
        let h = out.entry(port).or_insert_with(|| Health {
            namespace: sp.name.namespace.clone(),
            name: sp.name.name.clone(),
            local_endpoints: 0,
        });
        // A multi-port Service has one health check: any port's endpoints.
        h.local_endpoints = h.local_endpoints.max(local);
    }
    out
}

/// The running servers, one per health check port.
#[derive(Default)]
pub struct HealthChecks {
    servers: BTreeMap<u16, (Arc<Mutex<Health>>, JoinHandle<()>)>,
}

impl HealthChecks {
    /// Start, stop or update servers so they match `model`.
    pub async fn update(&mut self, model: &ServiceModel) {
        let want = wanted(model);
        self.servers.retain(|port, (_, task)| {
            let keep = want.contains_key(port);
            if !keep {
                task.abort();
            }
            keep
        });
        for (port, health) in want {
            if let Some((state, _)) = self.servers.get(&port) {
                *state.lock().expect("health lock") = health;
                continue;
            }
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    let state = Arc::new(Mutex::new(health));
                    let task = tokio::spawn(serve(listener, state.clone()));
                    self.servers.insert(port, (state, task));
                }
                // Tried again on the next model.
                Err(e) => tracing::warn!("health check port {port}: {e}"),
            }
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<Health>>) {
    let app = Router::new().fallback(move || {
        let health = state.lock().expect("health lock").clone();
        async move { respond(&health) }
    });
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!("health check server stopped: {e}");
    }
}

fn respond(health: &Health) -> Response {
    let (status, body) = health.answer();
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&health.local_endpoints.to_string()) {
        h.insert("X-Load-Balancing-Endpoint-Weight", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_proxy::external::{NodePort, ThisNode};
    use labyrinth_proxy::{Endpoint, Protocol, ServicePort, ServicePortName};

    fn model(node: &str) -> ServiceModel {
        let mut m = ServiceModel::new(None);
        m.node = Some(ThisNode {
            name: node.into(),
            ip: Ipv4Addr::new(10, 168, 0, 3),
            zone: None,
        });
        let mut ep = Endpoint::new(Ipv4Addr::new(10, 0, 2, 5), 8080);
        ep.node_name = Some("node-2".into());
        let name = ServicePortName::new("ns", "web", "", Protocol::Tcp);
        let np = NodePort {
            port: 30081,
            local: true,
            health_check: Some(32001),
        };
        m.insert(ServicePort::new(name, Ipv4Addr::new(10, 96, 0, 9), 80, vec![ep]).with_node_port(np));
        m
    }

    #[test]
    fn answers_200_with_local_endpoints_and_503_without() {
        let here = wanted(&model("node-2"));
        let (status, body) = here[&32001].answer();
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["localEndpoints"], 1);
        assert_eq!(v["service"]["name"], "web");
        assert_eq!(v["serviceProxyHealthy"], true);
        let elsewhere = wanted(&model("node-0"));
        assert_eq!(elsewhere[&32001].answer().0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
