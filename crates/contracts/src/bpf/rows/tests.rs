use super::*;
use serde_json::json;

fn ip(s: &str) -> u32 {
    be_addr(s.parse().unwrap())
}

#[test]
fn service_slots_read_in_host_order_with_their_backend() {
    let key = |slot| Lb4Key {
        address: ip("10.96.0.50"),
        dport: 80u16.to_be(),
        slot,
        proto: PROTO_TCP,
        pad: [0; 3],
    };
    let backend = Lb4Backend {
        address: ip("10.0.1.10"),
        port: 8080u16.to_be(),
        proto: PROTO_TCP,
        flags: 0,
    };
    let front = Lb4Service {
        backend_id: 0,
        count: 2,
        rev_nat_index: 5,
    };
    let row = ServiceRow::new(&key(0), &front, Some(&backend), "wrk-2/web:http".into());
    assert_eq!(row.frontend, "10.96.0.50:80".parse().unwrap());
    assert_eq!((row.proto, row.count, row.backend), (IpProto::TCP, 2, None));
    assert!(row.is_frontend());
    let slot = Lb4Service {
        backend_id: 4,
        count: 0,
        rev_nat_index: 5,
    };
    let row = ServiceRow::new(&key(1), &slot, Some(&backend), "wrk-2/web:http".into());
    assert_eq!(row.backend, Some("10.0.1.10:8080".parse().unwrap()));
    assert_eq!(
        serde_json::to_value(&row).unwrap(),
        json!({"frontend": "10.96.0.50:80", "proto": "TCP", "slot": 1, "backend_id": 4, "count": 0,
               "rev_nat_index": 5, "backend": "10.0.1.10:8080", "name": "wrk-2/web:http"})
    );
    let back: ServiceRow = serde_json::from_value(serde_json::to_value(&row).unwrap()).unwrap();
    assert_eq!(back, row);
    let b = BackendRow::new(4, &backend);
    assert_eq!((b.id, b.address.port(), b.proto), (4, 8080, IpProto::TCP));
}

#[test]
fn lookup_finds_the_frontend_and_its_slots_in_order() {
    let row = |front: &str, proto, slot, backend: Option<&str>| ServiceRow {
        frontend: front.parse().unwrap(),
        proto,
        slot,
        backend_id: u32::from(slot),
        count: if slot == 0 { 2 } else { 0 },
        rev_nat_index: 4,
        backend: backend.map(|b| b.parse().unwrap()),
        name: "wrk-2/web:tcp".into(),
    };
    let rows = [
        row("10.96.0.12:9999", IpProto::TCP, 2, Some("10.0.1.7:9999")),
        row("10.96.0.12:9999", IpProto::UDP, 0, None),
        row("10.96.0.12:9999", IpProto::TCP, 0, None),
        row("10.96.0.12:9999", IpProto::TCP, 1, Some("10.0.2.5:9999")),
        row("10.96.0.13:80", IpProto::TCP, 1, Some("10.0.2.5:80")),
    ];
    let (front, slots) = ServiceRow::lookup(&rows, "10.96.0.12:9999".parse().unwrap(), IpProto::TCP).unwrap();
    assert_eq!((front.slot, front.count), (0, 2));
    let slots: Vec<u16> = slots.iter().map(|r| r.slot).collect();
    assert_eq!(slots, [1, 2]);
    let (_, none) = ServiceRow::lookup(&rows, "10.96.0.12:9999".parse().unwrap(), IpProto::UDP).unwrap();
    assert!(none.is_empty());
    assert!(
        ServiceRow::lookup(&rows, "10.96.0.13:80".parse().unwrap(), IpProto::TCP).is_none(),
        "backend slots without their frontend are no Service"
    );
}

#[test]
fn conntrack_rows_carry_direction_state_and_idle_time() {
    let k = Ct4Key {
        saddr: ip("10.0.1.13"),
        daddr: ip("10.96.0.50"),
        sport: 40000u16.to_be(),
        dport: 80u16.to_be(),
        proto: PROTO_TCP,
        dir: CT_DIR_SERVICE,
        pad: 0,
    };
    let v = Ct4Entry {
        backend_addr: ip("10.0.2.10"),
        backend_port: 8080u16.to_be(),
        rev_nat_index: 5,
        flags: CT_F_HAIRPIN,
        tcp_seen: TCP_SYN | TCP_ACK,
        last_seen_ns: 1_000,
        ..Default::default()
    };
    let row = CtRow::new(&k, &v, 3_000_001_000, "wrk-2/web:http".into());
    assert_eq!(
        (row.dir, row.state, row.hairpin),
        (CtDir::Service, FlowState::Established, true)
    );
    assert_eq!(row.idle_ns, 3_000_000_000);
    assert_eq!(row.source, "10.0.1.13:40000".parse().unwrap());
    assert_eq!(row.backend, "10.0.2.10:8080".parse().unwrap());
    let j = serde_json::to_value(&row).unwrap();
    assert_eq!(
        (&j["dir"], &j["state"]),
        (&json!("service"), &json!("established"))
    );
    // A clock read before the entry was refreshed is not a huge idle time.
    assert_eq!(CtRow::new(&k, &v, 0, String::new()).idle_ns, 0);
    let reply = Ct4Key {
        dir: CT_DIR_REPLY,
        ..k
    };
    assert_eq!(CtRow::new(&reply, &v, 0, String::new()).dir, CtDir::Reply);
    assert!(!CtRow::new(&reply, &v, 0, String::new()).answered);
    let answered = Ct4Entry {
        flags: CT_F_ANSWERED,
        ..v
    };
    let row = CtRow::new(&reply, &answered, 0, String::new());
    assert!(row.answered && !row.hairpin);
    let policy = Ct4Key {
        dir: crate::bpf::policy::CT_DIR_POL_INGRESS,
        ..k
    };
    let row = CtRow::new(&policy, &v, 0, String::new());
    assert_eq!(row.dir, CtDir::PolicyIngress);
    assert_eq!(
        serde_json::to_value(row).unwrap()["dir"],
        json!(CtDir::PolicyIngress.as_str())
    );
}

#[test]
fn flow_states_from_the_tcp_flags_seen() {
    assert_eq!(FlowState::of(PROTO_UDP, TCP_ACK), FlowState::Stateless);
    assert_eq!(FlowState::of(PROTO_TCP, TCP_SYN), FlowState::Opening);
    assert_eq!(
        FlowState::of(PROTO_TCP, TCP_SYN | TCP_ACK),
        FlowState::Established
    );
    assert_eq!(FlowState::of(PROTO_TCP, TCP_ACK | TCP_FIN), FlowState::Closing);
    assert_eq!(FlowState::of(PROTO_TCP, TCP_RST), FlowState::Closing);
    assert_eq!(FlowState::Stateless.name(), "-");
}

#[test]
fn ipcache_endpoint_and_config_rows() {
    let v = IpcacheValue {
        tunnel_endpoint: ip("10.168.0.4"),
        identity: 0,
        flags: 0,
        pad: [0; 3],
    };
    let row = IpcacheRow::new(24, ip("10.0.2.0"), &v).unwrap();
    assert_eq!(row.prefix, "10.0.2.0/24".parse::<Ipv4Net>().unwrap());
    assert_eq!(row.tunnel_endpoint, Ipv4Addr::new(10, 168, 0, 4));
    assert_eq!(
        serde_json::to_value(&row).unwrap(),
        json!({"prefix": "10.0.2.0/24", "tunnel_endpoint": "10.168.0.4", "identity": 0})
    );
    let e = IpcacheRow::new(33, ip("10.0.2.0"), &v).unwrap_err();
    assert_eq!(e, "ipcache key 10.0.2.0/33: prefix length over 32");

    let ep = EndpointRow::new(
        ip("10.0.1.10"),
        &EndpointValue {
            ifindex: 12,
            pod_mac: [0x0a, 0x58, 0x0a, 0, 1, 0x0a],
            node_mac: [0x66, 0xdf, 0x5a, 0x74, 0x81, 0x52],
            flags: 0,
        },
    );
    assert_eq!((ep.address, ep.ifindex), (Ipv4Addr::new(10, 0, 1, 10), 12));

    let c = ConfigRow::new(&LbyConfig {
        tunnel_ifindex: 3,
        vni: 1,
        node_ip: ip("10.168.0.3"),
        hairpin_ip: ip("169.254.42.1"),
        routing: ROUTING_NATIVE,
        trace_level: 1,
        delivery: DELIVERY_PEER_REDIRECT,
        pad: 0,
    });
    assert_eq!((c.routing, c.vni), (Routing::Native, 1));
    assert_eq!(c.delivery, PodDelivery::PeerRedirect);
    let j = serde_json::to_value(&c).unwrap();
    assert_eq!(
        (&j["routing"], &j["node_ip"]),
        (&json!("native"), &json!("10.168.0.3"))
    );
    assert_eq!(j["delivery"], json!("peer-redirect"));
    assert_eq!(serde_json::from_value::<ConfigRow>(j.clone()).unwrap(), c);
    // A row printed by a build before the field: the host veth.
    let mut old = j;
    old.as_object_mut().unwrap().remove("delivery");
    let old: ConfigRow = serde_json::from_value(old).unwrap();
    assert_eq!(old.delivery, PodDelivery::HostVeth);
}

#[test]
fn protocols_by_name_or_number() {
    assert_eq!("tcp".parse::<IpProto>(), Ok(IpProto::TCP));
    assert_eq!("UDP".parse::<IpProto>(), Ok(IpProto::UDP));
    assert_eq!("132".parse::<IpProto>(), Ok(IpProto(132)));
    assert_eq!(IpProto(132).to_string(), "132");
    assert_eq!(IpProto::ICMP.to_string(), "ICMP");
    let e = serde_json::from_value::<IpProto>(json!("sctp")).unwrap_err();
    assert!(e.to_string().contains("unknown IP protocol \"sctp\""), "{e}");
}
