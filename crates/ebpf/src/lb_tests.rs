//! Unit tests for backend slot compilation, id stability and the order of
//! map writes (no kernel needed).

use std::net::Ipv4Addr;

use labyrinth_proxy::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

use crate::abi::*;
use crate::lb_compile::{compile, lb_key, Ids};
use crate::lb_plan::{plan, Op};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 50);

fn ep(d: u8) -> Endpoint {
    Endpoint::new(Ipv4Addr::new(10, 0, 1, d), 8080)
}

fn model(eps: Vec<Endpoint>) -> ServiceModel {
    let mut m = ServiceModel::new(None);
    m.insert(ServicePort::new(
        ServicePortName::new("wrk-2", "web", "http", Protocol::Tcp),
        VIP,
        80,
        eps,
    ));
    m
}

#[test]
fn frontend_slot_holds_count_and_slots_follow_in_endpoint_order() {
    let mut ids = Ids::default();
    let mut not_ready = ep(9);
    not_ready.ready = false;
    let st = compile(&model(vec![ep(12), ep(10), ep(11), not_ready]), &mut ids).unwrap();
    let fe = st.services[&lb_key(VIP, 80, PROTO_TCP, 0)];
    assert_eq!((fe.count, fe.backend_id), (3, 0));
    let addrs: Vec<Ipv4Addr> = (1..=3)
        .map(|s| st.services[&lb_key(VIP, 80, PROTO_TCP, s)])
        .map(|v| addr_of(st.backends[&v.backend_id].address))
        .collect();
    assert_eq!(addrs, [10, 11, 12].map(|d| Ipv4Addr::new(10, 0, 1, d)));
    assert_eq!(st.services.len(), 4, "the not-ready endpoint has no slot");
    let rn = st.revnat[&fe.rev_nat_index];
    assert_eq!((addr_of(rn.address), u16::from_be(rn.port)), (VIP, 80));
    assert_eq!(st.names[&fe.rev_nat_index], "wrk-2/web:http");
    // Keys are in packet byte order.
    assert_eq!(lb_key(VIP, 80, PROTO_TCP, 0).dport.to_ne_bytes(), [0, 80]);
}

#[test]
fn no_endpoints_keeps_a_frontend_with_count_zero() {
    let st = compile(&model(vec![]), &mut Ids::default()).unwrap();
    assert_eq!(st.services.len(), 1);
    assert_eq!(st.services[&lb_key(VIP, 80, PROTO_TCP, 0)].count, 0);
    assert!(st.backends.is_empty());
}

#[test]
fn ids_are_stable_and_recovered_from_maps() {
    let mut ids = Ids::default();
    let a = compile(&model(vec![ep(10), ep(11)]), &mut ids).unwrap();
    let b = compile(&model(vec![ep(11), ep(12)]), &mut ids).unwrap();
    let id11 = |st: &crate::lb_compile::LbState| {
        *st.backends
            .iter()
            .find(|(_, b)| addr_of(b.address) == Ipv4Addr::new(10, 0, 1, 11))
            .unwrap()
            .0
    };
    assert_eq!(id11(&a), id11(&b));
    // A restarted agent recovers the ids from the maps.
    let mut recovered = Ids::recover(&b);
    let c = compile(&model(vec![ep(11), ep(12)]), &mut recovered).unwrap();
    assert_eq!(b, c);
}

#[test]
fn removing_a_backend_rewrites_slots_before_shrinking_the_count() {
    let mut ids = Ids::default();
    let old = compile(&model(vec![ep(10), ep(11), ep(12)]), &mut ids).unwrap();
    let new = compile(&model(vec![ep(10), ep(12)]), &mut ids).unwrap();
    let ops = plan(&old, &new);
    let pos = |f: &dyn Fn(&Op) -> bool| ops.iter().position(f).unwrap();
    let slot2 = pos(&|o| matches!(o, Op::PutSlot(k, _) if k.slot == 2));
    let fe = pos(&|o| matches!(o, Op::PutFrontend(_, v) if v.count == 2));
    let del3 = pos(&|o| matches!(o, Op::DelSlot(k) if k.slot == 3));
    let del_be = pos(&|o| matches!(o, Op::DelBackend(_)));
    assert!(slot2 < fe && fe < del3 && del3 < del_be, "{ops:#?}");
    assert!(plan(&new, &new).is_empty());
}

#[test]
fn adding_a_service_writes_backends_before_slots_before_frontend() {
    let old = crate::lb_compile::LbState::default();
    let new = compile(&model(vec![ep(10)]), &mut Ids::default()).unwrap();
    let kinds: Vec<&str> = plan(&old, &new)
        .iter()
        .map(|o| match o {
            Op::PutBackend(..) => "backend",
            Op::PutRevNat(..) => "revnat",
            Op::PutName(..) => "name",
            Op::PutSlot(..) => "slot",
            Op::PutFrontend(..) => "frontend",
            _ => "delete",
        })
        .collect();
    assert_eq!(kinds, ["backend", "revnat", "name", "slot", "frontend"]);
    let back: Vec<_> = plan(&new, &old);
    assert!(matches!(back.first(), Some(Op::DelFrontend(_))), "{back:?}");
    assert!(matches!(back.last(), Some(Op::DelBackend(_))), "{back:?}");
}

#[test]
fn affinity_timeout_rides_on_the_frontend_and_internal_local_keeps_local_slots() {
    let mut here = ep(10);
    here.node_name = Some("node-1".into());
    let mut there = ep(11);
    there.node_name = Some("node-2".into());
    let mut m = model(vec![here, there]);
    m.node = Some(labyrinth_proxy::external::ThisNode {
        name: "node-1".into(),
        ip: Ipv4Addr::new(10, 168, 0, 3),
        zone: None,
    });
    let name = ServicePortName::new("wrk-2", "web", "http", Protocol::Tcp);
    m.services.get_mut(&name).unwrap().affinity_seconds = Some(600);
    let st = compile(&m, &mut Ids::default()).unwrap();
    let fe = st.services[&lb_key(VIP, 80, PROTO_TCP, 0)];
    assert_eq!((fe.count, fe.backend_id), (2, 600));

    m.services.get_mut(&name).unwrap().internal_local = true;
    let st = compile(&m, &mut Ids::default()).unwrap();
    let fe = st.services[&lb_key(VIP, 80, PROTO_TCP, 0)];
    assert_eq!(fe.count, 1);
    let slot = st.services[&lb_key(VIP, 80, PROTO_TCP, 1)];
    assert_eq!(
        addr_of(st.backends[&slot.backend_id].address),
        Ipv4Addr::new(10, 0, 1, 10)
    );
    m.node.as_mut().unwrap().name = "node-0".into();
    let st = compile(&m, &mut Ids::default()).unwrap();
    assert_eq!(st.services[&lb_key(VIP, 80, PROTO_TCP, 0)].count, 0);
}

#[test]
fn a_node_port_is_a_frontend_on_the_node_address_with_its_policy_row() {
    let mut here = ep(10);
    here.node_name = Some("node-1".into());
    let mut there = ep(11);
    there.node_name = Some("node-2".into());
    let mut m = model(vec![here, there]);
    let node = Ipv4Addr::new(10, 168, 0, 3);
    m.node = Some(labyrinth_proxy::external::ThisNode {
        name: "node-1".into(),
        ip: node,
        zone: None,
    });
    let name = ServicePortName::new("wrk-2", "web", "http", Protocol::Tcp);
    let np = |local| labyrinth_proxy::external::NodePort {
        port: 30080,
        local,
        health_check: None,
    };
    m.services.get_mut(&name).unwrap().node_port = Some(np(false));
    let st = compile(&m, &mut Ids::default()).unwrap();
    let fe = st.services[&lb_key(node, 30080, PROTO_TCP, 0)];
    assert_eq!(fe.count, 2, "Cluster: every ready endpoint");
    let key = Lb4NodePortKey {
        address: be_addr(node),
        port: 30080u16.to_be(),
        proto: PROTO_TCP,
        pad: 0,
    };
    assert_eq!(st.nodeports[&key].rev_nat_index, fe.rev_nat_index);
    assert_eq!(st.nodeports[&key].flags, 0);
    assert_eq!(st.names[&fe.rev_nat_index], "wrk-2/web:http (NodePort 30080)");
    // Local: this node's endpoint only, and the flag that keeps the
    // client's address; on a node without one, no backends (drop).
    m.services.get_mut(&name).unwrap().node_port = Some(np(true));
    let st = compile(&m, &mut Ids::default()).unwrap();
    assert_eq!(st.services[&lb_key(node, 30080, PROTO_TCP, 0)].count, 1);
    assert_eq!(st.nodeports[&key].flags, NP_F_LOCAL);
    m.node.as_mut().unwrap().name = "node-0".into();
    let st = compile(&m, &mut Ids::default()).unwrap();
    assert_eq!(st.services[&lb_key(node, 30080, PROTO_TCP, 0)].count, 0);
    // The row goes in after its frontend and out before it.
    let ops = plan(&Default::default(), &st);
    let at = |f: &dyn Fn(&Op) -> bool| ops.iter().position(f).unwrap();
    assert!(at(&|o| matches!(o, Op::PutNodePort(..))) > at(&|o| matches!(o, Op::PutFrontend(..))));
    let back = plan(&st, &Default::default());
    let at = |f: &dyn Fn(&Op) -> bool| back.iter().position(f).unwrap();
    assert!(at(&|o| matches!(o, Op::DelNodePort(..))) < at(&|o| matches!(o, Op::DelFrontend(..))));
}
