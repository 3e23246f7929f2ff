//! What every part of the iptables layout shares: kube-proxy's fixed chain
//! names and mark, quoting and probabilities as iptables-save prints them,
//! and the rules one service port owns.

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";

/// The packet mark kube-proxy uses to request masquerading.
pub const MASQ_MARK: &str = "0x4000";

/// Quote like `xtables_save_string`: bare only when made of [A-Za-z0-9_-].
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// 1/n the way kube-proxy writes it ("%0.10f").
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// 1/n the way iptables-save prints it back: the kernel keeps
/// round(2^31 · p) and iptables prints that over 2^31 with 11 decimals
/// (kube-proxy's 0.3333333333 comes back as 0.33333333349).
pub fn saved_probability(written: &str) -> String {
    let p: f64 = written.parse().unwrap_or(0.0);
    let kept = (p * 2147483648.0).round();
    format!("{:.11}", kept / 2147483648.0)
}

/// Rules one service port owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRules {
    /// Its rule in nat KUBE-SERVICES (empty without endpoints).
    pub nat_services: Vec<String>,
    /// Its reject in filter KUBE-SERVICES (only without endpoints).
    pub filter_services: Vec<String>,
    /// Its own nat chains (KUBE-SVC-…, then each KUBE-SEP-…, then
    /// KUBE-EXT-… and KUBE-SVL-… for a NodePort) with their rules.
    pub chains: Vec<(String, Vec<String>)>,
    /// Its rule in nat KUBE-NODEPORTS (a NodePort with endpoints).
    pub nat_nodeports: Vec<String>,
    /// Its reject or drop in filter KUBE-EXTERNAL-SERVICES (a NodePort
    /// without endpoints to send outside traffic to).
    pub filter_external: Vec<String>,
}
