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
