//! DNS-1123 / DNS-1035 name checks with the real server's messages.

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Problems with `name` as an RFC 1123 subdomain (most kinds).
pub fn subdomain(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.len() > 253 {
        out.push("must be no more than 253 characters".into());
    }
    if !name.split('.').all(is_label) {
        out.push(SUBDOMAIN_MSG.into());
    }
    out
}

/// Problems with `name` as a path segment: RBAC objects' names, which the
/// real server checks only this way, so `system:…` and `kubeadm:…` names
/// are valid there.
pub fn path_segment(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name == "." || name == ".." {
        out.push(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            out.push(format!("may not contain '{bad}'"));
        }
    }
    out
}

/// Problems with `name` as an RFC 1123 label (namespaces).
pub fn label(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label(&name[..name.len().min(63)]) || name.is_empty() {
        out.push(LABEL_MSG.into());
    }
    out
}

/// Problems with `name` as a DNS-1035 label (services, port names).
pub fn dns1035(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !is_label(name) || !name.as_bytes()[0].is_ascii_lowercase() {
        out.push(DNS1035_MSG.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert!(subdomain("a.b-c.d").is_empty());
        assert!(!subdomain("Bad_Name").is_empty());
        assert!(!subdomain("-x").is_empty());
        assert!(label("wrk-1").is_empty());
        assert!(!label("a.b").is_empty());
        assert!(dns1035("svc-1").is_empty());
        assert!(!dns1035("1svc").is_empty());
        assert!(path_segment("kubeadm:kubeadm-certs").is_empty());
        assert_eq!(path_segment(".."), ["may not be '..'"]);
        assert_eq!(
            path_segment("a/b%"),
            ["may not contain '/'", "may not contain '%'"]
        );
    }
}
