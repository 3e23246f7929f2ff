//! Building the service model from the API's Service and EndpointSlice objects.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, Context, Result};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

type Key = (String, String);

/// Services and EndpointSlices as last seen from the API (a watch cache).
#[derive(Default, Debug, Clone)]
pub struct ServiceStore {
    services: BTreeMap<Key, Service>,
    slices: BTreeMap<Key, EndpointSlice>,
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Result<Key> {
    let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let name = meta
        .name
        .clone()
        .ok_or_else(|| anyhow!("object without metadata.name"))?;
    Ok((ns, name))
}

impl ServiceStore {
    pub fn apply_service(&mut self, svc: Service) -> Result<()> {
        let k = key(&svc.metadata)?;
        self.services.insert(k, svc);
        Ok(())
    }

    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        self.services.remove(&(namespace.into(), name.into()));
    }

    pub fn apply_slice(&mut self, slice: EndpointSlice) -> Result<()> {
        let k = key(&slice.metadata)?;
        self.slices.insert(k, slice);
        Ok(())
    }

    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        self.slices.remove(&(namespace.into(), name.into()));
    }

    /// After a relist: exactly these Services (objects without a name are
    /// left out; the API never serves one).
    pub fn replace_services(&mut self, services: Vec<Service>) {
        self.services = services
            .into_iter()
            .filter_map(|s| Some((key(&s.metadata).ok()?, s)))
            .collect();
    }

    /// After a relist: exactly these EndpointSlices.
    pub fn replace_slices(&mut self, slices: Vec<EndpointSlice>) {
        self.slices = slices
            .into_iter()
            .filter_map(|s| Some((key(&s.metadata).ok()?, s)))
            .collect();
    }

    /// The model: one ServicePort per (ClusterIP service, port). Services that
    /// are headless or not IPv4 are skipped; a malformed one is an error
    /// naming it, so nothing half-built is programmed.
    pub fn model(&self, cluster_cidr: Option<Ipv4Net>) -> Result<ServiceModel> {
        let mut model = ServiceModel::new(cluster_cidr);
        for ((ns, name), svc) in &self.services {
            for sp in self
                .service_ports(ns, name, svc)
                .with_context(|| format!("service {ns}/{name}"))?
            {
                model.insert(sp);
            }
        }
        model.validate().map_err(|e| anyhow!(e))?;
        Ok(model)
    }

    fn service_ports(&self, ns: &str, name: &str, svc: &Service) -> Result<Vec<ServicePort>> {
        let Some(spec) = &svc.spec else { return Ok(vec![]) };
        let Some(ip) = spec.cluster_ip.as_deref() else {
            return Ok(vec![]);
        };
        if ip.is_empty() || ip == "None" {
            return Ok(vec![]);
        }
        let Ok(cluster_ip) = ip.parse::<Ipv4Addr>() else {
            // IPv6 ClusterIPs are out of scope for now; skip rather than fail.
            return Ok(vec![]);
        };
        let slices: Vec<&EndpointSlice> = self
            .slices
            .iter()
            .filter(|((sns, _), s)| {
                sns == ns
                    && s.address_type == "IPv4"
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SERVICE_NAME_LABEL))
                        .map(String::as_str)
                        == Some(name)
            })
            .map(|(_, s)| s)
            .collect();
        let mut out = Vec::new();
        for port in spec.ports.iter().flatten() {
            let proto = Protocol::from_api(port.protocol.as_deref())
                .map_err(|e| anyhow!("port {}: {e}", port.port))?;
            let port_name = port.name.clone().unwrap_or_default();
            let svc_port =
                u16::try_from(port.port).map_err(|_| anyhow!("port {} out of range", port.port))?;
            let spn = ServicePortName::new(ns, name, &port_name, proto);
            out.push(ServicePort::new(
                spn,
                cluster_ip,
                svc_port,
                endpoints_for(&slices, &port_name, proto)?,
            ));
        }
        Ok(out)
    }
}

/// Endpoints of one service port: the slice port with the same name and
/// protocol gives the resolved target port.
fn endpoints_for(slices: &[&EndpointSlice], port_name: &str, proto: Protocol) -> Result<Vec<Endpoint>> {
    let mut eps = Vec::new();
    for slice in slices {
        let target = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && Protocol::from_api(p.protocol.as_deref()).ok() == Some(proto)
        });
        let Some(target) = target else { continue };
        let Some(port) = target.port else { continue };
        let port = u16::try_from(port).map_err(|_| anyhow!("endpoint port {port} out of range"))?;
        for ep in slice.endpoints.iter().flatten() {
            // The API says a nil ready condition means ready.
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            for addr in &ep.addresses {
                let ip: Ipv4Addr = addr
                    .parse()
                    .with_context(|| format!("endpoint address {addr:?}"))?;
                eps.push(Endpoint {
                    ip,
                    port,
                    ready,
                    node_name: ep.node_name.clone(),
                });
            }
        }
    }
    Ok(eps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": "dns-tcp"}
            ]}
        }))
        .unwrap()
    }

    fn slice() -> EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "kube-dns-abcde", "namespace": "kube-system",
                         "labels": {"kubernetes.io/service-name": "kube-dns"}},
            "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": 5354, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.0.1.7"], "conditions": {"ready": true}, "nodeName": "node-1"},
                {"addresses": ["10.0.2.9"], "conditions": {"ready": false}, "nodeName": "node-2"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn builds_ports_with_target_ports_from_the_slice() {
        let mut store = ServiceStore::default();
        store.apply_service(svc()).unwrap();
        store.apply_slice(slice()).unwrap();
        let model = store.model(Some("10.0.0.0/16".parse().unwrap())).unwrap();
        assert_eq!(model.services.len(), 2);
        let udp = &model.services[&ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp)];
        assert_eq!(udp.cluster_ip, Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(udp.port, 53);
        assert_eq!(udp.endpoints.len(), 2);
        assert_eq!(udp.endpoints[0].port, 5353);
        assert_eq!(udp.endpoints[0].node_name.as_deref(), Some("node-1"));
        assert_eq!(udp.ready_endpoints().len(), 1);
        let tcp = &model.services[&ServicePortName::new("kube-system", "kube-dns", "dns-tcp", Protocol::Tcp)];
        assert_eq!(tcp.endpoints[0].port, 5354);
        store.delete_slice("kube-system", "kube-dns-abcde");
        let model = store.model(None).unwrap();
        assert!(model.services.values().all(|s| s.endpoints.is_empty()));
    }

    #[test]
    fn bad_endpoint_address_names_the_service() {
        let mut store = ServiceStore::default();
        store.apply_service(svc()).unwrap();
        let mut s = slice();
        s.endpoints.as_mut().unwrap()[0].addresses[0] = "10.0.1".into();
        store.apply_slice(s).unwrap();
        let err = format!("{:#}", store.model(None).unwrap_err());
        assert!(
            err.contains("kube-system/kube-dns") && err.contains("10.0.1"),
            "{err}"
        );
    }
}
