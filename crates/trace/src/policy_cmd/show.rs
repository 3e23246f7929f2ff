//! `policy show [-n NS] [POD]`: per pod, the policies selecting it, its
//! isolation per direction and what is allowed, allow by allow, as the
//! agents compile it for their datapaths (labyrinth_policy::compile_node),
//! so what is shown is what is enforced.

use anyhow::{bail, Result};
use clap::Args;
use labyrinth_policy::{compile_node, Allow, Cluster, Direction, Pod, PolicyRef};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The pod (POD, or NAMESPACE/POD); every pod of the namespace when absent.
    pub pod: Option<String>,
    /// The namespace (every namespace when neither it nor a pod is given).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One direction of a pod.
#[derive(Debug, Serialize, PartialEq)]
pub struct Side {
    pub direction: Direction,
    /// Selected by a policy for this direction: only what is allowed passes.
    pub isolated: bool,
    pub isolated_by: Vec<PolicyRef>,
    /// The compiled allows (empty and isolated: nothing passes).
    pub allows: Vec<Allow>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Shown {
    pub pod: String,
    pub ip: Option<String>,
    pub node: String,
    /// Every policy whose podSelector selects the pod, in either direction.
    pub selected_by: Vec<PolicyRef>,
    pub ingress: Side,
    pub egress: Side,
}

/// The pods `args` names, in namespace and name order.
fn chosen<'a>(c: &'a Cluster, args: &ShowArgs) -> Result<Vec<&'a Pod>> {
    let (ns, name) = match args.pod.as_deref().map(|p| p.split_once('/')) {
        Some(Some((ns, name))) => (Some(ns.to_string()), Some(name.to_string())),
        Some(None) => (
            Some(args.namespace.clone().unwrap_or_else(|| "default".into())),
            args.pod.clone(),
        ),
        None => (args.namespace.clone(), None),
    };
    let mut pods: Vec<&Pod> = c
        .pods
        .iter()
        .filter(|p| ns.as_ref().is_none_or(|n| &p.namespace == n))
        .filter(|p| name.as_ref().is_none_or(|n| &p.name == n))
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    if pods.is_empty() {
        let ns = ns.unwrap_or_default();
        match name {
            Some(name) => bail!("POD {ns}/{name}: no such pod"),
            None => bail!("--namespace {ns}: no pods"),
        }
    }
    Ok(pods)
}

/// The policy picture of the pods `args` names.
pub fn show(c: &Cluster, args: &ShowArgs) -> Result<Vec<Shown>> {
    let compiled = compile_node(c, None);
    let side = |pod: &Pod, dir: Direction| {
        let isolated_by: Vec<PolicyRef> = c.isolating(pod, dir).iter().map(|p| p.reference()).collect();
        let allows = compiled
            .pods
            .iter()
            .find(|r| r.namespace == pod.namespace && r.name == pod.name && r.direction == dir)
            .map(|r| r.allows.clone())
            .unwrap_or_default();
        Side {
            direction: dir,
            isolated: !isolated_by.is_empty(),
            isolated_by,
            allows,
        }
    };
    Ok(chosen(c, args)?
        .into_iter()
        .map(|pod| {
            let mut selected_by: Vec<PolicyRef> = c
                .policies
                .iter()
                .filter(|p| p.selects(pod))
                .map(|p| p.reference())
                .collect();
            selected_by.sort();
            Shown {
                pod: format!("{}/{}", pod.namespace, pod.name),
                ip: pod.ip.map(|i| i.to_string()),
                node: pod.node.clone(),
                selected_by,
                ingress: side(pod, Direction::Ingress),
                egress: side(pod, Direction::Egress),
            }
        })
        .collect())
}

/// "TCP 80", "UDP 1000-2000", "every TCP port", "every protocol".
fn ports(a: &Allow) -> String {
    match (a.protocol, a.ports) {
        (None, _) => "every protocol and port".into(),
        (Some(p), None) => format!("every {} port", p.as_str()),
        (Some(p), Some((lo, hi))) if lo == hi => format!("{} {lo}", p.as_str()),
        (Some(p), Some((lo, hi))) => format!("{} {lo}-{hi}", p.as_str()),
    }
}

fn names(refs: &[PolicyRef]) -> String {
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text form.
pub fn text(shown: &[Shown]) -> String {
    let mut out = String::new();
    for s in shown {
        let ip = s.ip.as_deref().unwrap_or("no address yet");
        out += &format!("{} ({ip}, {})\n", s.pod, s.node);
        if s.selected_by.is_empty() {
            out += "  selected by no policy\n";
        } else {
            out += &format!("  selected by {}\n", names(&s.selected_by));
        }
        for side in [&s.ingress, &s.egress] {
            let (dir, peer) = match side.direction {
                Direction::Ingress => ("ingress", "from"),
                Direction::Egress => ("egress", "to"),
            };
            if !side.isolated {
                out += &format!("  {dir}: not isolated, everything allowed\n");
                continue;
            }
            out += &format!("  {dir}: isolated by {}\n", names(&side.isolated_by));
            for a in &side.allows {
                let nets = match &a.nets {
                    None => "every address".to_string(),
                    Some(n) => n.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                };
                out += &format!(
                    "    allow {peer} {nets} {}: {}\n",
                    ports(a),
                    a.describe(side.direction)
                );
            }
            out += "    anything else: dropped (no rule allows)\n";
        }
    }
    out
}

pub fn run(lab: &str, args: ShowArgs) -> Result<i32> {
    let c = super::fetch::cluster(lab)?;
    let shown = show(&c, &args)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "pods": shown }))?
        );
    } else {
        print!("{}", text(&shown));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_policy::{Peer, PolicyPort, PortMatch, Protocol, Rule, Selector};

    fn cluster() -> Cluster {
        let pod = |ns: &str, name: &str, ip: &str| Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: [("pod".to_string(), name.to_string())].into(),
            ip: Some(ip.parse().unwrap()),
            node: "node-1".into(),
            ports: vec![],
        };
        let policy =
            |name: &str, ingress: Option<Vec<Rule>>, egress: Option<Vec<Rule>>| labyrinth_policy::Policy {
                namespace: "x".into(),
                name: name.into(),
                pod_selector: Selector::labels([("pod", "a")]),
                ingress,
                egress,
            };
        let from_b = Rule {
            peers: vec![Peer::Pods {
                namespaces: None,
                pods: Some(Selector::labels([("pod", "b")])),
            }],
            ports: vec![PolicyPort {
                protocol: Protocol::Tcp,
                port: PortMatch::Range(80, 81),
            }],
        };
        Cluster {
            pods: vec![
                pod("x", "b", "10.0.1.6"),
                pod("x", "a", "10.0.1.5"),
                pod("y", "a", "10.0.2.5"),
            ],
            policies: vec![
                policy("deny-all", Some(vec![]), None),
                policy("from-b", Some(vec![from_b]), None),
                policy("egress-only", None, Some(vec![])),
            ],
            ..Default::default()
        }
    }

    fn args(pod: Option<&str>, ns: Option<&str>) -> ShowArgs {
        ShowArgs {
            pod: pod.map(Into::into),
            namespace: ns.map(Into::into),
            json: false,
        }
    }

    #[test]
    fn shows_selecting_policies_isolation_and_allows() {
        let c = cluster();
        let shown = show(&c, &args(Some("a"), Some("x"))).unwrap();
        assert_eq!(shown.len(), 1);
        let want = "x/a (10.0.1.5, node-1)\n  selected by x/deny-all, x/egress-only, x/from-b\n  \
ingress: isolated by x/deny-all, x/from-b\n    \
allow from 10.0.1.6/32 TCP 80-81: x/from-b ingress rule 0 peer 0\n    \
anything else: dropped (no rule allows)\n  \
egress: isolated by x/egress-only\n    anything else: dropped (no rule allows)\n";
        assert_eq!(text(&shown), want);
        // NS/POD names the same pod; a pod of no policy is shown as such.
        assert_eq!(show(&c, &args(Some("x/a"), None)).unwrap(), shown);
        let b = text(&show(&c, &args(Some("x/b"), None)).unwrap());
        assert!(
            b.contains("selected by no policy\n  ingress: not isolated, everything allowed\n"),
            "{b}"
        );
        // Every pod of a namespace, every pod of all.
        assert_eq!(show(&c, &args(None, Some("x"))).unwrap().len(), 2);
        assert_eq!(show(&c, &args(None, None)).unwrap().len(), 3);
        let json = serde_json::to_value(&shown).unwrap();
        assert_eq!(json[0]["ingress"]["allows"][0]["policy"]["name"], "from-b");
        assert_eq!(json[0]["egress"]["isolated"], true);
    }

    #[test]
    fn unknown_pods_and_namespaces_are_named() {
        let c = cluster();
        let e = show(&c, &args(Some("zz"), Some("x"))).unwrap_err().to_string();
        assert_eq!(e, "POD x/zz: no such pod");
        let e = show(&c, &args(None, Some("nope"))).unwrap_err().to_string();
        assert_eq!(e, "--namespace nope: no pods");
    }
}
