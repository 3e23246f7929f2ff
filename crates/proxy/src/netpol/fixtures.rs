//! The pod both renderings' tests render: wrk-2/server at 10.0.2.5,
//! isolated by wrk-2/allow-frontend and wrk-2/deny-all.

use labyrinth_policy::{Allow, Direction, PodRules, PolicyRef, Protocol};

fn policy(name: &str) -> PolicyRef {
    PolicyRef {
        namespace: "wrk-2".into(),
        name: name.into(),
    }
}

/// An allow of wrk-2/allow-frontend rule 0; `nets` comma-separated.
pub fn allow(
    peer: Option<usize>,
    nets: Option<&str>,
    protocol: Option<Protocol>,
    ports: Option<(u16, u16)>,
) -> Allow {
    Allow {
        policy: policy("allow-frontend"),
        rule: 0,
        peer,
        nets: nets.map(|n| n.split(',').map(|n| n.parse().unwrap()).collect()),
        protocol,
        ports,
    }
}

pub fn server(direction: Direction, allows: Vec<Allow>) -> PodRules {
    PodRules {
        namespace: "wrk-2".into(),
        name: "server".into(),
        ip: "10.0.2.5".parse().unwrap(),
        direction,
        isolated_by: vec![policy("allow-frontend"), policy("deny-all")],
        allows,
    }
}
