//! A pod's `securityContext.sysctls`: kernel settings of the pod's own
//! namespaces, set in its sandbox before any container starts. The API
//! server checks their names and that the pod has the namespace each one
//! lives in (not the node's network, not the node's IPC); the node agent
//! admits only the safe ones and those its `--allowed-unsafe-sysctls`
//! names, as the kubelet does, and the sandbox writes them. A container
//! cannot write them itself: its /proc/sys is read-only.

/// What every kubelet allows without being told (the kubelet's list):
/// each is held by the pod's own namespace and cannot starve the node.
pub const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// The namespace a sysctl belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// The pod's network namespace (`net.*`).
    Net,
    /// The pod's IPC namespace (System V IPC and POSIX message queues).
    Ipc,
}

/// The name with dots between its parts. A name may separate its parts
/// with '/' instead, when its first separator is one; a '.' is then part
/// of a name (an interface `eth0.100`), and becomes a '/' here, as the
/// kubelet converts it.
pub fn dotted(name: &str) -> String {
    if name.find(['.', '/']).is_some_and(|i| name.as_bytes()[i] == b'/') {
        name.chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect()
    } else {
        name.to_string()
    }
}

/// Where the sysctl is under /proc/sys (`net.ipv4.tcp_rmem` →
/// `net/ipv4/tcp_rmem`).
pub fn path(name: &str) -> String {
    dotted(name)
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// The namespace that holds the sysctl; `None` for one the node holds.
pub fn namespace(name: &str) -> Option<Namespace> {
    let d = dotted(name);
    if d.starts_with("net.") {
        return Some(Namespace::Net);
    }
    let ipc = ["kernel.shm", "kernel.msg", "fs.mqueue."];
    (ipc.iter().any(|p| d.starts_with(p)) || d == "kernel.sem").then_some(Namespace::Ipc)
}

/// The API server's rule for a name: at most 253 characters, parts of
/// lower-case letters, digits, '-' and '_' (starting and ending with a
/// letter or digit) joined by '.' or '/'.
pub fn valid_name(name: &str) -> bool {
    let part_ok = |p: &str| {
        let b = p.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    name.len() <= 253 && name.split(['.', '/']).all(part_ok)
}

/// The message of the API server's refusal of a name.
pub const NAME_RULE: &str = "must have at most 253 characters and match regex \
     ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// The unsafe sysctls a node admits besides `SAFE` (the kubelet's
/// `--allowed-unsafe-sysctls`): whole names, or prefixes ending in '*'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<String>);

impl Allowlist {
    /// A comma-separated list; each entry must name sysctls of a pod's own
    /// namespaces (a pod may never set one of the node's).
    pub fn parse(list: &str) -> Result<Allowlist, String> {
        let mut out = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, prefix) = match entry.strip_suffix('*') {
                Some(p) => (p.trim_end_matches(['.', '/']), true),
                None => (entry, false),
            };
            let probe = if prefix {
                format!("{name}.x")
            } else {
                name.to_string()
            };
            if !valid_name(name) || namespace(&probe).is_none() {
                return Err(format!(
                    "{entry:?} is not a sysctl of a pod's own namespaces (net.*, kernel.shm*, \
                     kernel.msg*, kernel.sem, fs.mqueue.*)"
                ));
            }
            out.push(dotted(entry));
        }
        Ok(Allowlist(out))
    }

    /// Whether a pod may set `name` on this node.
    pub fn allows(&self, name: &str) -> bool {
        let d = dotted(name);
        SAFE.contains(&d.as_str())
            || self.0.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => d.starts_with(prefix),
                None => *a == d,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_either_separator_mean_the_same_setting() {
        assert_eq!(path("net.ipv4.tcp_rmem"), "net/ipv4/tcp_rmem");
        assert_eq!(path("net/ipv4/tcp_rmem"), "net/ipv4/tcp_rmem");
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            path("net/ipv4/conf/eth0.100/rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            path("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
    }

    #[test]
    fn each_sysctl_has_its_namespace_or_is_the_nodes() {
        assert_eq!(namespace("net.core.somaxconn"), Some(Namespace::Net));
        assert_eq!(namespace("net/ipv4/ip_forward"), Some(Namespace::Net));
        assert_eq!(namespace("kernel.shm_rmid_forced"), Some(Namespace::Ipc));
        assert_eq!(namespace("kernel.msgmax"), Some(Namespace::Ipc));
        assert_eq!(namespace("kernel.sem"), Some(Namespace::Ipc));
        assert_eq!(namespace("fs.mqueue.msg_max"), Some(Namespace::Ipc));
        for node in [
            "kernel.panic",
            "vm.swappiness",
            "kernel.semx",
            "fs.file-max",
            "netx.y",
        ] {
            assert_eq!(namespace(node), None, "{node}");
        }
    }

    #[test]
    fn names_follow_the_api_servers_rule() {
        for ok in [
            "net.ipv4.tcp_rmem",
            "net/ipv4/conf/eth0.100/rp_filter",
            "kernel.shm_rmid_forced",
            "a",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Net.ipv4.x",
            "net..x",
            "net.ipv4.",
            "-net.x",
            "net.x_",
            "net.ip v4",
            &"a".repeat(254),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_node_admits_the_safe_ones_and_what_it_is_told() {
        let none = Allowlist::default();
        assert!(none.allows("net.ipv4.ip_unprivileged_port_start"));
        assert!(none.allows("net/ipv4/ip_local_port_range"));
        assert!(!none.allows("net.core.somaxconn"));
        let some = Allowlist::parse("net.core.somaxconn, kernel.msg*,net/ipv6/conf/*").unwrap();
        assert!(some.allows("net.core.somaxconn"));
        assert!(some.allows("kernel.msgmax"));
        assert!(some.allows("net.ipv6.conf.all.forwarding"));
        assert!(!some.allows("net.core.rmem_max"));
        assert!(!some.allows("kernel.shmmax"));
        for bad in ["kernel.panic", "vm.*", "*", "net..x"] {
            let e = Allowlist::parse(bad).unwrap_err();
            assert!(e.contains("not a sysctl of a pod's own namespaces"), "{bad}: {e}");
        }
    }
}
