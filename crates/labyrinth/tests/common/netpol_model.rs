//! The truth table a set of NetworkPolicies should give, computed here in
//! the test from the policies as the test writes them, apart from
//! crates/policy (the datapaths' own compiler): the conformance matrix
//! (tests/netpol_matrix.rs) compares what the datapath does with this
//! second reading of the Kubernetes documentation, as the upstream e2e
//! suite compares with its own model.
//!
//! The rules, from the NetworkPolicy documentation: a connection needs
//! the source's egress and the destination's ingress to allow it; a pod is
//! isolated in a direction once any policy selecting it has that policy
//! type, and then only what some rule of those policies allows passes; a
//! rule with no peers allows every peer, with no ports every port; a named
//! port means the destination pod's container port of that name and
//! protocol; ipBlock matches addresses in its cidr outside every except.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// matchLabels only (every label must be there with that value).
pub type Sel = Vec<(&'static str, &'static str)>;

fn matches(sel: &Sel, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(*k).is_some_and(|l| l == v))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
    pub fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Port {
    Num(u16),
    Name(&'static str),
}

#[derive(Clone, Debug)]
pub struct PortSpec {
    pub proto: Proto,
    pub port: Option<Port>,
    pub end_port: Option<u16>,
}

#[derive(Clone, Debug)]
pub enum PeerSpec {
    /// namespaceSelector / podSelector; None = absent.
    Pods {
        ns: Option<Sel>,
        pods: Option<Sel>,
    },
    Block {
        cidr: Ipv4Net,
        except: Vec<Ipv4Net>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct RuleSpec {
    pub peers: Vec<PeerSpec>,
    pub ports: Vec<PortSpec>,
}

#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub ns: &'static str,
    pub name: &'static str,
    pub pod_selector: Sel,
    /// Some: policyTypes holds Ingress (the rules may be none).
    pub ingress: Option<Vec<RuleSpec>>,
    pub egress: Option<Vec<RuleSpec>>,
}

/// A pod of the matrix as the model sees it.
#[derive(Clone, Debug)]
pub struct ModelPod {
    pub ns: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ip: Ipv4Addr,
    /// (name, protocol, number) of its container ports.
    pub ports: Vec<(String, Proto, u16)>,
}

impl ModelPod {
    pub fn id(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }
}

/// The policies selecting `subject` that have the direction's type.
fn isolating<'p>(policies: &'p [PolicySpec], subject: &ModelPod, ingress: bool) -> Vec<&'p PolicySpec> {
    policies
        .iter()
        .filter(|p| p.ns == subject.ns && matches(&p.pod_selector, &subject.labels))
        .filter(|p| {
            if ingress {
                p.ingress.is_some()
            } else {
                p.egress.is_some()
            }
        })
        .collect()
}

/// Where the model says a refused connection dies (Model::drop_at).
pub struct Refusal<'a> {
    /// The pod whose policy refuses it.
    pub pod: &'a ModelPod,
    /// Refused entering `pod` (else leaving it).
    pub ingress: bool,
    pub isolated_by: Vec<String>,
}

/// One connection attempt.
struct Conn<'a> {
    from: &'a ModelPod,
    to: &'a ModelPod,
    port: u16,
    proto: Proto,
}

pub struct Model {
    pub pods: Vec<ModelPod>,
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl Model {
    fn peer_matches(&self, pol: &PolicySpec, peer: &PeerSpec, other: &ModelPod) -> bool {
        match peer {
            PeerSpec::Block { cidr, except } => {
                cidr.contains(&other.ip) && !except.iter().any(|e| e.contains(&other.ip))
            }
            PeerSpec::Pods { ns, pods } => {
                let ns_ok = match ns {
                    None => other.ns == pol.ns,
                    Some(sel) => self.namespaces.get(&other.ns).is_some_and(|l| matches(sel, l)),
                };
                ns_ok && pods.as_ref().is_none_or(|s| matches(s, &other.labels))
            }
        }
    }

    fn port_matches(spec: &PortSpec, dst: &ModelPod, port: u16, proto: Proto) -> bool {
        if spec.proto != proto {
            return false;
        }
        match &spec.port {
            None => true,
            Some(Port::Num(n)) => (*n..=spec.end_port.unwrap_or(*n)).contains(&port),
            Some(Port::Name(name)) => dst
                .ports
                .iter()
                .any(|(n, p, num)| n == name && *p == proto && *num == port),
        }
    }

    /// Does the connection's source (egress) or destination (ingress)
    /// let it through?
    fn direction_allows(&self, policies: &[PolicySpec], c: &Conn, ingress: bool) -> bool {
        let (subject, other) = if ingress { (c.to, c.from) } else { (c.from, c.to) };
        let selecting = isolating(policies, subject, ingress);
        if selecting.is_empty() {
            return true;
        }
        selecting.iter().any(|pol| {
            let rules = if ingress { &pol.ingress } else { &pol.egress };
            rules.as_ref().unwrap().iter().any(|r| {
                (r.peers.is_empty() || r.peers.iter().any(|peer| self.peer_matches(pol, peer, other)))
                    && (r.ports.is_empty()
                        || r.ports
                            .iter()
                            .any(|s| Self::port_matches(s, c.to, c.port, c.proto)))
            })
        })
    }

    pub fn allowed(
        &self,
        policies: &[PolicySpec],
        from: &ModelPod,
        to: &ModelPod,
        port: u16,
        proto: Proto,
    ) -> bool {
        let c = Conn {
            from,
            to,
            port,
            proto,
        };
        // A pod reaching its own address never leaves it (loopback), as
        // upstream's model allows.
        from.ip == to.ip
            || self.direction_allows(policies, &c, false) && self.direction_allows(policies, &c, true)
    }

    /// Where a refused connection is dropped: leaving `from` when its
    /// egress refuses it (judged first, as the packet leaves first), else
    /// entering `to`; with the `ns/name`s of the policies isolating that
    /// pod in that direction, sorted. None when it is allowed.
    pub fn drop_at<'a>(
        &self,
        policies: &[PolicySpec],
        from: &'a ModelPod,
        to: &'a ModelPod,
        port: u16,
        proto: Proto,
    ) -> Option<Refusal<'a>> {
        if self.allowed(policies, from, to, port, proto) {
            return None;
        }
        let c = Conn {
            from,
            to,
            port,
            proto,
        };
        let ingress = self.direction_allows(policies, &c, false);
        let pod = if ingress { to } else { from };
        let mut isolated_by: Vec<String> = isolating(policies, pod, ingress)
            .iter()
            .map(|p| format!("{}/{}", p.ns, p.name))
            .collect();
        isolated_by.sort();
        Some(Refusal {
            pod,
            ingress,
            isolated_by,
        })
    }

    /// The expected table: (from, to) → allowed.
    pub fn table(&self, policies: &[PolicySpec], port: u16, proto: Proto) -> Table {
        let mut t = Table::default();
        for f in &self.pods {
            for to in &self.pods {
                t.cells
                    .insert((f.id(), to.id()), self.allowed(policies, f, to, port, proto));
            }
        }
        t
    }
}

/// A truth table over the matrix's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub cells: BTreeMap<(String, String), bool>,
}

impl Table {
    /// As upstream prints it: rows are sources, columns destinations,
    /// `.` allowed, `X` blocked; with `other`, cells that differ are `*`.
    pub fn render(&self, other: Option<&Table>) -> String {
        let pods: Vec<&String> = {
            let mut v: Vec<&String> = self.cells.keys().map(|(f, _)| f).collect();
            v.dedup();
            v
        };
        let mut out = format!("{:<6}", "-");
        for p in &pods {
            let _ = write!(out, "{p:<6}");
        }
        out.push('\n');
        for f in &pods {
            let _ = write!(out, "{f:<6}");
            for t in &pods {
                let key = ((*f).clone(), (*t).clone());
                let mine = self.cells.get(&key).copied();
                let cell = match (mine, other.and_then(|o| o.cells.get(&key).copied())) {
                    (Some(a), Some(b)) if a != b => "*",
                    (Some(true), _) => ".",
                    (Some(false), _) => "X",
                    (None, _) => "?",
                };
                let _ = write!(out, "{cell:<6}");
            }
            out.push('\n');
        }
        out
    }
}

/// The policy as YAML for `kubectl apply`.
pub fn to_yaml(p: &PolicySpec) -> String {
    fn sel(s: &Sel) -> String {
        // Quoted: YAML 1.1 reads a bare `y` as true.
        let kv: Vec<String> = s.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
        format!("{{matchLabels: {{{}}}}}", kv.join(", "))
    }
    fn rules(out: &mut String, key: &str, peer_key: &str, rules: &[RuleSpec]) {
        let _ = writeln!(out, "  {key}:");
        for r in rules {
            out.push_str("  - {");
            let mut parts = Vec::new();
            if !r.peers.is_empty() {
                let peers: Vec<String> = r
                    .peers
                    .iter()
                    .map(|p| match p {
                        PeerSpec::Pods { ns, pods } => {
                            let mut f = Vec::new();
                            if let Some(n) = ns {
                                f.push(format!("namespaceSelector: {}", sel(n)));
                            }
                            if let Some(s) = pods {
                                f.push(format!("podSelector: {}", sel(s)));
                            }
                            format!("{{{}}}", f.join(", "))
                        }
                        PeerSpec::Block { cidr, except } => {
                            let ex: Vec<String> = except.iter().map(|e| e.to_string()).collect();
                            format!("{{ipBlock: {{cidr: {cidr}, except: [{}]}}}}", ex.join(", "))
                        }
                    })
                    .collect();
                parts.push(format!("{peer_key}: [{}]", peers.join(", ")));
            }
            if !r.ports.is_empty() {
                let ports: Vec<String> = r
                    .ports
                    .iter()
                    .map(|s| {
                        let mut f = vec![format!("protocol: {}", s.proto.name())];
                        match &s.port {
                            Some(Port::Num(n)) => f.push(format!("port: {n}")),
                            Some(Port::Name(n)) => f.push(format!("port: {n}")),
                            None => {}
                        }
                        if let Some(e) = s.end_port {
                            f.push(format!("endPort: {e}"));
                        }
                        format!("{{{}}}", f.join(", "))
                    })
                    .collect();
                parts.push(format!("ports: [{}]", ports.join(", ")));
            }
            out.push_str(&parts.join(", "));
            out.push_str("}\n");
        }
    }
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {}, namespace: \"{}\"}}\nspec:\n  podSelector: {}\n",
        p.name,
        p.ns,
        sel(&p.pod_selector)
    );
    let mut types = Vec::new();
    if p.ingress.is_some() {
        types.push("Ingress");
    }
    if p.egress.is_some() {
        types.push("Egress");
    }
    let _ = writeln!(out, "  policyTypes: [{}]", types.join(", "));
    if let Some(r) = &p.ingress {
        if !r.is_empty() {
            rules(&mut out, "ingress", "from", r);
        }
    }
    if let Some(r) = &p.egress {
        if !r.is_empty() {
            rules(&mut out, "egress", "to", r);
        }
    }
    out
}
