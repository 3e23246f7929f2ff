//! The Service variables the kubelet gives every container (unless the
//! pod sets `enableServiceLinks: false`): for each Service of the pod's
//! namespace with a cluster IP, `<NAME>_SERVICE_HOST`/`_PORT` (and
//! `_PORT_<PORTNAME>` per named port) and the Docker-links style
//! `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>` with its `_PROTO`, `_PORT`
//! and `_ADDR`; the name upper-cased, dashes as underscores.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Service;

use crate::agent::context::Agent;

/// The variables of namespace `ns`'s Services as this node knows them:
/// from the store a watch keeps (the proxy's, or the kubelet role's own:
/// `services::env_watch`), once it has listed them (no request per pod
/// start); else (before that, or in a one-process agent without a
/// datapath, whose proxy never runs) from a LIST.
pub async fn for_namespace(agent: &Agent, ns: &str) -> Result<Vec<(String, String)>> {
    if agent.services.listed() {
        return Ok(agent.services.read(|st| variables(st.services_in(ns))));
    }
    let api: kube::Api<Service> = kube::Api::namespaced(agent.client.clone(), ns);
    let list = api
        .list(&Default::default())
        .await
        .context("listing the namespace's Services")?;
    Ok(variables(&list.items))
}

/// The variables for `services` (those existing when the container
/// starts), in their order.
pub fn variables<'a>(services: impl IntoIterator<Item = &'a Service>) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        else {
            continue;
        };
        let ports = spec.ports.as_deref().unwrap_or(&[]);
        let Some(first) = ports.first() else { continue };
        let prefix = env_name(svc.metadata.name.as_deref().unwrap_or(""));
        env.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        env.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for p in ports {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                env.push((
                    format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                    p.port.to_string(),
                ));
            }
        }
        let proto =
            |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.as_deref().unwrap_or("TCP").to_string();
        env.push((
            format!("{prefix}_PORT"),
            format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port),
        ));
        for p in ports {
            let pr = proto(p);
            let base = format!("{prefix}_PORT_{}_{}", p.port, pr.to_uppercase());
            env.push((base.clone(), format!("{}://{ip}:{}", pr.to_lowercase(), p.port)));
            env.push((format!("{base}_PROTO"), pr.to_lowercase()));
            env.push((format!("{base}_PORT"), p.port.to_string()));
            env.push((format!("{base}_ADDR"), ip.to_string()));
        }
    }
    env
}

fn env_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_as_the_kubelet_names_them() {
        let svcs: Vec<Service> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "my-web"}, "spec": {"clusterIP": "10.96.0.20", "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]}},
            {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
        ]))
        .unwrap();
        let got = variables(&svcs);
        let want = [
            ("MY_WEB_SERVICE_HOST", "10.96.0.20"),
            ("MY_WEB_SERVICE_PORT", "80"),
            ("MY_WEB_SERVICE_PORT_HTTP", "80"),
            ("MY_WEB_SERVICE_PORT_DNS_UDP", "53"),
            ("MY_WEB_PORT", "tcp://10.96.0.20:80"),
            ("MY_WEB_PORT_80_TCP", "tcp://10.96.0.20:80"),
            ("MY_WEB_PORT_80_TCP_PROTO", "tcp"),
            ("MY_WEB_PORT_80_TCP_PORT", "80"),
            ("MY_WEB_PORT_80_TCP_ADDR", "10.96.0.20"),
            ("MY_WEB_PORT_53_UDP", "udp://10.96.0.20:53"),
            ("MY_WEB_PORT_53_UDP_PROTO", "udp"),
            ("MY_WEB_PORT_53_UDP_PORT", "53"),
            ("MY_WEB_PORT_53_UDP_ADDR", "10.96.0.20"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want, "headless Services have none");
    }
}
