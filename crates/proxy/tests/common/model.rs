//! Synthetic Service models of any size, for the benchmarks and the
//! netlink-against-nft comparison.

use std::net::Ipv4Addr;

use labyrinth_proxy::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

/// `services` ClusterIP services with `endpoints` endpoints each.
pub fn synthetic_model(services: usize, endpoints: usize) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/8".parse().expect("cidr")));
    for i in 0..services {
        let vip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + 1 + i as u32);
        let eps = (0..endpoints)
            .map(|e| {
                Endpoint::new(
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + (i * endpoints + e) as u32),
                    8080,
                )
            })
            .collect();
        let name = ServicePortName::new(
            &format!("ns-{}", i % 50),
            &format!("svc-{i}"),
            "http",
            Protocol::Tcp,
        );
        m.insert(ServicePort::new(name, vip, 80, eps));
    }
    m
}
