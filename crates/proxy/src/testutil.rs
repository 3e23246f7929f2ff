//! Small models shared by the unit tests.
use std::net::Ipv4Addr;

use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

/// kube-dns (3 endpoints, UDP 53), kubernetes (1 endpoint), and an
/// endpoint-less service.
pub fn sample() -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    let dns = |d| Endpoint::new(Ipv4Addr::new(10, 0, 1, d), 53);
    m.insert(ServicePort::new(
        ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp),
        Ipv4Addr::new(10, 96, 0, 10),
        53,
        vec![dns(12), dns(11), dns(13)],
    ));
    m.insert(ServicePort::new(
        ServicePortName::new("default", "kubernetes", "https", Protocol::Tcp),
        Ipv4Addr::new(10, 96, 0, 1),
        443,
        vec![Endpoint::new(Ipv4Addr::new(10, 168, 0, 2), 6443)],
    ));
    m.insert(ServicePort::new(
        ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp),
        Ipv4Addr::new(10, 96, 0, 77),
        9999,
        vec![],
    ));
    m
}

/// One NodePort Service `ns/web` (TCP 80, nodePort 30080) with endpoints on
/// node-1 and node-2, programmed as `node` sees it.
pub fn node_port(local: bool, node: &str) -> (ServiceModel, ServicePortName) {
    use crate::external::{NodePort, ThisNode};
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    m.node = Some(ThisNode {
        name: node.into(),
        ip: Ipv4Addr::new(10, 168, 0, 3),
        zone: None,
    });
    let ep = |n: u8| Endpoint {
        node_name: Some(format!("node-{n}")),
        ..Endpoint::new(Ipv4Addr::new(10, 0, n, 5), 8080)
    };
    let name = ServicePortName::new("ns", "web", "", Protocol::Tcp);
    let np = NodePort {
        port: 30080,
        local,
        health_check: local.then_some(32000),
    };
    m.insert(
        ServicePort::new(name.clone(), Ipv4Addr::new(10, 96, 0, 20), 80, vec![ep(1), ep(2)])
            .with_node_port(np),
    );
    (m, name)
}
