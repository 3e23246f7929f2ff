use super::*;
use serde_json::json;

fn svc(name: &str, ty: &str, created: &str, extra: serde_json::Value) -> Service {
    let mut v = json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
        "spec": {"type": ty, "ports": [{"port": 80}]}});
    if let Some(spec) = extra.get("spec").and_then(|s| s.as_object()) {
        for (k, x) in spec {
            v["spec"][k] = x.clone();
        }
    }
    if let Some(st) = extra.get("status") {
        v["status"] = st.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn ingress(ip: &str) -> serde_json::Value {
    json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn oldest_first_kept_addresses_stay_exhausted_pool_pends() {
    let pool: AddressPool = "10.168.0.240-10.168.0.241".parse().unwrap();
    let a = svc("a", "LoadBalancer", "2026-01-01T00:00:02Z", json!({}));
    let b = svc(
        "b",
        "LoadBalancer",
        "2026-01-01T00:00:01Z",
        ingress("10.168.0.241"),
    );
    let c = svc("c", "LoadBalancer", "2026-01-01T00:00:03Z", json!({}));
    let d = svc("d", "ClusterIP", "2026-01-01T00:00:00Z", ingress("10.168.0.240"));
    let acts = decide(&[&a, &b, &c, &d], &pool);
    assert_eq!(
        acts,
        [
            Action::Clear {
                ns: "default".into(),
                name: "d".into()
            },
            Action::Assign {
                ns: "default".into(),
                name: "a".into(),
                ip: ip("10.168.0.240")
            },
            Action::Pending {
                ns: "default".into(),
                name: "c".into(),
                message: "Failed to allocate IP for \"default/c\": no available IPs".into()
            },
        ]
    );
}

#[test]
fn requested_addresses_and_other_classes() {
    let pool: AddressPool = "10.168.0.240/30".parse().unwrap();
    let want = svc(
        "w",
        "LoadBalancer",
        "2026-01-01T00:00:01Z",
        json!({"spec": {"loadBalancerIP": "10.168.0.242"}}),
    );
    let outside = svc(
        "o",
        "LoadBalancer",
        "2026-01-01T00:00:02Z",
        json!({"spec": {"loadBalancerIP": "192.0.2.1"}}),
    );
    let other = svc(
        "x",
        "LoadBalancer",
        "2026-01-01T00:00:03Z",
        json!({"spec": {"loadBalancerClass": "example.com/lb"}}),
    );
    let acts = decide(&[&want, &outside, &other], &pool);
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(
        acts[0],
        Action::Assign {
            ns: "default".into(),
            name: "w".into(),
            ip: ip("10.168.0.242")
        }
    );
    assert!(
        matches!(&acts[1], Action::Pending { message, .. } if message.ends_with("192.0.2.1 is not in the address pool 10.168.0.240-10.168.0.243"))
    );
    // Already showing its address: nothing to do.
    let done = svc(
        "w",
        "LoadBalancer",
        "2026-01-01T00:00:01Z",
        ingress("10.168.0.242"),
    );
    assert!(decide(&[&done], &pool).is_empty());
}
