//! What the source pod's resolver will do with a name, predicted from its
//! resolv.conf and the Services in the API (no query is sent): the search
//! path in order, which names exist, and the ClusterIP the first one gives.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};

/// One name of the search path and what the cluster DNS will say.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub fqdn: String,
    /// The Service `ns/name` and its ClusterIP, when the name is one.
    pub answer: Option<(String, Ipv4Addr)>,
}

/// `search` domains and `ndots` from a resolv.conf.
pub fn search_path(resolv_conf: &str) -> (Vec<String>, usize) {
    let mut search = Vec::new();
    let mut ndots = 1;
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search") => search = words.map(String::from).collect(),
            Some("options") => {
                for o in words {
                    if let Some(n) = o.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        ndots = n;
                    }
                }
            }
            _ => {}
        }
    }
    (search, ndots)
}

/// The names the resolver tries, in order (glibc's rule: fewer dots than
/// ndots → the search domains first, then the name itself).
pub fn candidates(name: &str, search: &[String], ndots: usize) -> Vec<String> {
    if let Some(abs) = name.strip_suffix('.') {
        return vec![abs.to_string()];
    }
    let suffixed = search.iter().map(|d| format!("{name}.{d}"));
    if name.matches('.').count() < ndots {
        suffixed.chain([name.to_string()]).collect()
    } else {
        std::iter::once(name.to_string()).chain(suffixed).collect()
    }
}

/// Services as (namespace, name, ClusterIP) from `kubectl get svc -A -o json`.
pub fn services(json: &str) -> Result<Vec<(String, String, Option<Ipv4Addr>)>> {
    let v: serde_json::Value = serde_json::from_str(json).context("parsing the Service list")?;
    Ok(v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|s| {
                    (
                        s["metadata"]["namespace"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        s["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                        s["spec"]["clusterIP"].as_str().and_then(|ip| ip.parse().ok()),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Walk the search path against the Services until a name answers.
pub fn walk(
    name: &str,
    search: &[String],
    ndots: usize,
    domain: &str,
    svcs: &[(String, String, Option<Ipv4Addr>)],
) -> Vec<Lookup> {
    let mut out = Vec::new();
    for fqdn in candidates(name, search, ndots) {
        let answer = svcs.iter().find_map(|(ns, n, ip)| {
            (fqdn == format!("{n}.{ns}.svc.{domain}")).then(|| Some((format!("{ns}/{n}"), (*ip)?)))?
        });
        let found = answer.is_some();
        out.push(Lookup { fqdn, answer });
        if found {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_in_the_resolvers_order() {
        let (search, ndots) = search_path(
            "search wrk-1.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        assert_eq!(ndots, 5);
        let svcs = vec![(
            "wrk-2".to_string(),
            "web".to_string(),
            Some(Ipv4Addr::new(10, 96, 0, 12)),
        )];
        let walked = walk("web.wrk-2", &search, ndots, "cluster.local", &svcs);
        assert_eq!(walked.len(), 2);
        assert_eq!(walked[0].fqdn, "web.wrk-2.wrk-1.svc.cluster.local");
        assert_eq!(walked[0].answer, None);
        assert_eq!(walked[1].fqdn, "web.wrk-2.svc.cluster.local");
        assert_eq!(
            walked[1].answer,
            Some(("wrk-2/web".into(), Ipv4Addr::new(10, 96, 0, 12)))
        );
        let none = walk("nope", &search, ndots, "cluster.local", &svcs);
        assert_eq!(none.len(), 4);
        assert!(none.iter().all(|l| l.answer.is_none()));
        assert_eq!(candidates("a.b.c.d.e.f", &search, 5)[0], "a.b.c.d.e.f");
    }
}
