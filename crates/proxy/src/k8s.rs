//! Building the service model from the API's Service and EndpointSlice objects.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Context, Result};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::external::{NodePort, ThisNode, AFFINITY_DEFAULT_SECONDS, AFFINITY_MAX_SECONDS, NODE_PORT_RANGE};
use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};
use crate::topology::{narrow, Hinted};

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

    /// The Services of `namespace`, in name order (the kubelet role's
    /// service variables read them).
    pub fn services_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .range((namespace.to_string(), String::new())..)
            .take_while(move |((ns, _), _)| ns == namespace)
            .map(|(_, s)| s)
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
    /// naming it (what `model_for` leaves out, as a strict reading).
    pub fn model(&self, cluster_cidr: Option<Ipv4Net>) -> Result<ServiceModel> {
        let (model, mut left_out) = self.model_for(cluster_cidr, None)?;
        if left_out.is_empty() {
            Ok(model)
        } else {
            Err(left_out.swap_remove(0))
        }
    }

    /// The model as `node` programs it (its local endpoints, its NodePorts),
    /// and the Services left out of it, each error naming its Service. A
    /// Service the datapaths cannot program (an SCTP port, which the API
    /// accepts) is left out whole, so none of it is half-built, and the
    /// others are programmed as kube-proxy does: one such Service must not
    /// hold every other change back. Only conflicts between Services (two
    /// claiming one address and port, which the API server's allocators
    /// prevent) fail the whole model.
    pub fn model_for(
        &self,
        cluster_cidr: Option<Ipv4Net>,
        node: Option<ThisNode>,
    ) -> Result<(ServiceModel, Vec<anyhow::Error>)> {
        let mut model = ServiceModel::new(cluster_cidr);
        model.node = node;
        let mut left_out = Vec::new();
        for ((ns, name), svc) in &self.services {
            let zone = model.node.as_ref().and_then(|n| n.zone.as_deref());
            match self.service_ports(ns, name, svc, zone) {
                Ok(ports) => ports.into_iter().for_each(|sp| model.insert(sp)),
                Err(e) => left_out.push(e.context(format!("service {ns}/{name}"))),
            }
        }
        model.validate().map_err(|e| anyhow!(e))?;
        Ok((model, left_out))
    }

    fn service_ports(
        &self,
        ns: &str,
        name: &str,
        svc: &Service,
        zone: Option<&str>,
    ) -> Result<Vec<ServicePort>> {
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
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let proto = Protocol::from_api(port.protocol.as_deref())
                .map_err(|e| anyhow!("port {}: {e}", port.port))?;
            let port_name = port.name.clone().unwrap_or_default();
            let svc_port = u16::try_from(port.port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| anyhow!("port {} out of range", port.port))?;
            let spn = ServicePortName::new(ns, name, &port_name, proto);
            let (endpoints, topology_zone) = narrow(endpoints_for(&slices, &port_name, proto)?, zone);
            let mut sp = ServicePort::new(spn, cluster_ip, svc_port, endpoints);
            sp.topology_zone = topology_zone;
            if let Some(np) = node_port(spec, i, port.node_port)? {
                sp = sp.with_node_port(np);
            }
            sp.affinity_seconds = affinity(spec)?;
            sp.load_balancer_ips = load_balancer_ips(svc);
            sp.internal_local = match spec.internal_traffic_policy.as_deref() {
                None | Some("Cluster") => false,
                Some("Local") => true,
                Some(other) => bail!("spec.internalTrafficPolicy: {other:?} is neither Cluster nor Local"),
            };
            out.push(sp);
        }
        Ok(out)
    }
}

/// The NodePort of `spec.ports[i]`, for NodePort and LoadBalancer Services
/// that have one (the API server allocates it; an unallocated port is
/// skipped until it does).
fn node_port(
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
    i: usize,
    port: Option<i32>,
) -> Result<Option<NodePort>> {
    let external = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let Some(port) = port.filter(|p| external && *p != 0) else {
        return Ok(None);
    };
    let in_range = |p: i32| u16::try_from(p).ok().filter(|p| NODE_PORT_RANGE.contains(p));
    let port = in_range(port).ok_or_else(|| {
        anyhow!(
            "spec.ports[{i}].nodePort: {port} is outside {}-{}",
            NODE_PORT_RANGE.start(),
            NODE_PORT_RANGE.end()
        )
    })?;
    let local = match spec.external_traffic_policy.as_deref() {
        None | Some("Cluster") => false,
        Some("Local") => true,
        Some(other) => bail!("spec.externalTrafficPolicy: {other:?} is neither Cluster nor Local"),
    };
    let health_check = match spec.health_check_node_port.filter(|_| local) {
        Some(hc) => Some(
            u16::try_from(hc)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| anyhow!("spec.healthCheckNodePort: {hc} is not a port"))?,
        ),
        None => None,
    };
    Ok(Some(NodePort {
        port,
        local,
        health_check,
    }))
}

/// A LoadBalancer Service's IPv4 addresses from its status (the
/// controller fills them in from the lab's pool), sorted.
fn load_balancer_ips(svc: &Service) -> Vec<Ipv4Addr> {
    let lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let mut ips: Vec<Ipv4Addr> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .filter(|_| lb)
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// sessionAffinity ClientIP's timeout (None for affinity None).
fn affinity(spec: &k8s_openapi::api::core::v1::ServiceSpec) -> Result<Option<u32>> {
    match spec.session_affinity.as_deref() {
        None | Some("None") => Ok(None),
        Some("ClientIP") => {
            let t = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            match t {
                None => Ok(Some(AFFINITY_DEFAULT_SECONDS)),
                Some(t) => u32::try_from(t)
                    .ok()
                    .filter(|t| (1..=AFFINITY_MAX_SECONDS).contains(t))
                    .map(Some)
                    .ok_or_else(|| {
                        anyhow!(
                            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: {t} is outside 1-{AFFINITY_MAX_SECONDS}"
                        )
                    }),
            }
        }
        Some(other) => bail!("spec.sessionAffinity: {other:?} is neither None nor ClientIP"),
    }
}

/// Endpoints of one service port: the slice port with the same name and
/// protocol gives the resolved target port.
fn endpoints_for(slices: &[&EndpointSlice], port_name: &str, proto: Protocol) -> Result<Vec<Hinted>> {
    let mut eps = Vec::new();
    for slice in slices {
        let target = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && Protocol::from_api(p.protocol.as_deref()).ok() == Some(proto)
        });
        let Some(target) = target else { continue };
        let Some(port) = target.port else { continue };
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| anyhow!("endpoint port {port} out of range"))?;
        for ep in slice.endpoints.iter().flatten() {
            // The API says a nil ready condition means ready.
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            // ...and a nil serving condition defers to ready.
            let serving = ep.conditions.as_ref().and_then(|c| c.serving).unwrap_or(ready);
            for addr in &ep.addresses {
                let ip: Ipv4Addr = addr
                    .parse()
                    .with_context(|| format!("endpoint address {addr:?}"))?;
                let for_zones = ep.hints.as_ref().and_then(|h| h.for_zones.as_ref());
                eps.push(Hinted {
                    endpoint: Endpoint {
                        ip,
                        port,
                        ready,
                        serving,
                        node_name: ep.node_name.clone(),
                    },
                    for_zones: for_zones.map(|z| z.iter().map(|f| f.name.clone()).collect()),
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
                {"addresses": ["10.0.2.9"], "conditions": {"ready": false}, "nodeName": "node-2"},
                {"addresses": ["10.0.3.4"], "nodeName": "node-3",
                 "conditions": {"ready": false, "serving": true, "terminating": true}}
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
        assert_eq!(udp.endpoints.len(), 3);
        assert_eq!(udp.endpoints[0].port, 5353);
        assert_eq!(udp.endpoints[0].node_name.as_deref(), Some("node-1"));
        assert_eq!(udp.ready_endpoints().len(), 1);
        // Ready serves; a terminating one serves as its slice says; a
        // not-ready one without the condition does not.
        let serving: Vec<Ipv4Addr> = udp.serving_endpoints().map(|e| e.ip).collect();
        assert_eq!(serving, [Ipv4Addr::new(10, 0, 1, 7), Ipv4Addr::new(10, 0, 3, 4)]);
        let tcp = &model.services[&ServicePortName::new("kube-system", "kube-dns", "dns-tcp", Protocol::Tcp)];
        assert_eq!(tcp.endpoints[0].port, 5354);
        store.delete_slice("kube-system", "kube-dns-abcde");
        let model = store.model(None).unwrap();
        assert!(model.services.values().all(|s| s.endpoints.is_empty()));
    }

    fn node_port_svc(policy: &str, node_port: i32) -> Service {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20",
                     "externalTrafficPolicy": policy, "healthCheckNodePort": 32000,
                     "ports": [{"port": 80, "nodePort": node_port}]}
        }))
        .unwrap()
    }

    #[test]
    fn node_ports_and_their_policy_come_from_the_spec() {
        let mut store = ServiceStore::default();
        store.apply_service(node_port_svc("Local", 30080)).unwrap();
        let m = store.model(None).unwrap();
        let np = m.services.values().next().unwrap().node_port.unwrap();
        assert_eq!((np.port, np.local, np.health_check), (30080, true, Some(32000)));
        store.apply_service(node_port_svc("Cluster", 30080)).unwrap();
        let m = store.model(None).unwrap();
        let np = m.services.values().next().unwrap().node_port.unwrap();
        assert_eq!((np.local, np.health_check), (false, None));
        store.apply_service(node_port_svc("Cluster", 80)).unwrap();
        let err = format!("{:#}", store.model(None).unwrap_err());
        assert!(
            err.contains("ns/web") && err.contains("spec.ports[0].nodePort"),
            "{err}"
        );
        let mut itp = node_port_svc("Cluster", 30080);
        itp.spec.as_mut().unwrap().internal_traffic_policy = Some("Local".into());
        store.apply_service(itp).unwrap();
        assert!(
            store
                .model(None)
                .unwrap()
                .services
                .values()
                .next()
                .unwrap()
                .internal_local
        );
        let mut aff = node_port_svc("Cluster", 30080);
        aff.spec.as_mut().unwrap().session_affinity = Some("ClientIP".into());
        store.apply_service(aff.clone()).unwrap();
        let m = store.model(None).unwrap();
        assert_eq!(m.services.values().next().unwrap().affinity_seconds, Some(10800));
        aff.spec.as_mut().unwrap().session_affinity_config =
            serde_json::from_value(serde_json::json!({"clientIP": {"timeoutSeconds": 86401}})).unwrap();
        store.apply_service(aff).unwrap();
        let err = format!("{:#}", store.model(None).unwrap_err());
        assert!(
            err.contains("spec.sessionAffinityConfig.clientIP.timeoutSeconds"),
            "{err}"
        );
        store.apply_service(node_port_svc("Nearby", 30080)).unwrap();
        let err = format!("{:#}", store.model(None).unwrap_err());
        assert!(err.contains("spec.externalTrafficPolicy"), "{err}");
    }

    #[test]
    fn a_service_the_datapaths_cannot_program_is_left_out_alone() {
        let mut store = ServiceStore::default();
        store.apply_service(svc()).unwrap();
        store.apply_slice(slice()).unwrap();
        let mut sctp = node_port_svc("Cluster", 30080);
        sctp.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].protocol = Some("SCTP".into());
        store.apply_service(sctp).unwrap();
        let (m, left_out) = store.model_for(None, None).unwrap();
        // kube-dns's two ports are programmed; web is not, and says why.
        assert_eq!(m.services.len(), 2);
        assert!(m.services.keys().all(|k| k.name == "kube-dns"));
        let why: Vec<String> = left_out.iter().map(|e| format!("{e:#}")).collect();
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(
            why[0].contains("ns/web") && why[0].contains("\"SCTP\""),
            "{why:?}"
        );
        // The strict reading still refuses it, naming it.
        let err = format!("{:#}", store.model(None).unwrap_err());
        assert!(err.contains("ns/web"), "{err}");
        // So is a port 0 (stored before the API server refused it), which
        // the model's own check would have refused for every Service.
        let mut zero = slice();
        zero.ports.as_mut().unwrap()[0].port = Some(0);
        store.apply_slice(zero).unwrap();
        let (m, left_out) = store.model_for(None, None).unwrap();
        let why: Vec<String> = left_out.iter().map(|e| format!("{e:#}")).collect();
        assert_eq!(m.services.len(), 0, "{why:?}");
        assert!(
            why.iter()
                .any(|w| w.contains("kube-system/kube-dns") && w.contains("endpoint port 0")),
            "{why:?}"
        );
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
