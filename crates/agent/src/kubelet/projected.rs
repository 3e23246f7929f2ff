//! `projected` volumes as the kubelet makes them: the files of each source
//! (a bound service-account token, ConfigMap and Secret keys, fields of
//! the pod) in one folder, written atomically (`runtime::atomic_dir`), and
//! the token requested again once 80% of its life has passed
//! (`token_renewal`), so a client re-reading the file never holds an
//! expired one.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use labyrinth_contracts::pod::{DownwardApiFile, ProjectedKeys, ProjectedVolume, Projection};
use serde_json::{json, Value};

use super::nodepod::{ConfigMaps, EnvSources, NodeFacts, NodePod};
use super::tokens::{now, Holder, Token};
use crate::agent::context::Agent;

/// One file of a volume: relative path, content, mode.
pub type File = (String, Vec<u8>, u32);

/// What the pod's projected volumes read besides its ConfigMaps and Secrets.
pub struct Facts<'a> {
    pub node: &'a NodeFacts,
    pub pod_ip: Option<Ipv4Addr>,
    pub tokens: &'a [Token],
}

/// A token for every `serviceAccountToken` source of the pod, bound to it.
pub async fn request_tokens(agent: &Agent, pod: &NodePod) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let who = Holder::of(pod);
    for v in &pod.spec.volumes {
        let Some(p) = v.projected() else { continue };
        for t in p.sources.iter().filter_map(Projection::service_account_token) {
            let (token, issued, expires) = request(agent, &who, t.audience.as_deref(), t.expiration_seconds)
                .await
                .with_context(|| format!("volume {:?}: requesting a service-account token", v.name))?;
            out.push(Token {
                volume: v.name.clone(),
                path: t.path.clone(),
                audience: t.audience.clone(),
                seconds: t.expiration_seconds,
                token,
                issued,
                expires,
            });
        }
    }
    Ok(out)
}

/// TokenRequest for the pod's account, bound to the pod (the only kind
/// of token a node may ask for).
pub(super) async fn request(
    agent: &Agent,
    who: &Holder,
    audience: Option<&str>,
    seconds: Option<i64>,
) -> Result<(String, i64, i64)> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let (pod, account) = (&who.pod, who.account.as_str());
    let mut spec =
        json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod.name, "uid": pod.uid}});
    if let Some(a) = audience.filter(|a| !a.is_empty()) {
        spec["audiences"] = json!([a]);
    }
    if let Some(s) = seconds {
        spec["expirationSeconds"] = json!(s);
    }
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    let api: kube::Api<ServiceAccount> = kube::Api::namespaced(agent.client.clone(), &pod.namespace);
    let issued = now();
    let answer: Value = api
        .create_subresource("token", account, &Default::default(), &body)
        .await
        .with_context(|| format!("serviceaccount {account:?}"))?;
    let token = answer
        .pointer("/status/token")
        .and_then(Value::as_str)
        .context("the TokenRequest's answer has no status.token")?;
    let expires = answer
        .pointer("/status/expirationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|t| t.as_second())
        .context("the TokenRequest's answer has no status.expirationTimestamp")?;
    Ok((token.to_string(), issued, expires))
}

/// The files of a projected volume, in source order (a later file of the
/// same path replaces an earlier one, as the kubelet writes them).
pub fn files(
    pod: &NodePod,
    name: &str,
    v: &ProjectedVolume,
    src: &EnvSources,
    facts: &Facts,
) -> Result<Vec<File>, String> {
    let mode = |m: Option<i32>| m.or(v.default_mode).unwrap_or(0o644) as u32 & 0o777;
    let mut out: Vec<File> = Vec::new();
    for s in &v.sources {
        if let Some(t) = s.service_account_token() {
            let token = facts
                .tokens
                .iter()
                .find(|k| k.volume == name && k.path == t.path)
                .ok_or_else(|| format!("no token was issued for {:?}", t.path))?;
            // As kubelet: the token is the volume's mode (0644 unless it
            // says), but only its owner's (0600, then readable by the
            // fsGroup) when the pod names who owns its volumes.
            let m = if pod.fs_user().is_some() || pod.fs_group().is_some() {
                0o600
            } else {
                mode(None)
            };
            out.push((t.path.clone(), token.token.clone().into_bytes(), m));
        }
        if let Some(k) = s.config_map() {
            out.extend(keys("configmap", k, &src.config_maps, &mode)?);
        }
        if let Some(k) = s.secret() {
            out.extend(keys("secret", k, &src.secrets, &mode)?);
        }
        if let Some(d) = s.downward_api() {
            for item in &d.items {
                out.push((
                    item.path.clone(),
                    field(pod, item, facts)?.into_bytes(),
                    mode(item.mode),
                ));
            }
        }
    }
    // The last of one path wins.
    let mut seen = std::collections::HashSet::new();
    out.reverse();
    out.retain(|f| seen.insert(f.0.clone()));
    out.reverse();
    Ok(out)
}

fn keys(
    kind: &str,
    k: &ProjectedKeys,
    data: &ConfigMaps,
    mode: &dyn Fn(Option<i32>) -> u32,
) -> Result<Vec<File>, String> {
    let optional = k.optional == Some(true);
    let Some(all) = data.get(&k.name) else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(format!("{kind} {:?} not found", k.name))
        };
    };
    if k.items.is_empty() {
        return Ok(all
            .iter()
            .map(|(key, v)| (key.clone(), v.clone().into_bytes(), mode(None)))
            .collect());
    }
    let mut out = Vec::new();
    for it in &k.items {
        match all.get(&it.key) {
            Some(v) => out.push((it.path.clone(), v.clone().into_bytes(), mode(it.mode))),
            None if optional => {}
            None => return Err(format!("{kind} {:?} has no key {:?}", k.name, it.key)),
        }
    }
    Ok(out)
}

/// A downward API file's content: one field of the pod.
fn field(pod: &NodePod, item: &DownwardApiFile, facts: &Facts) -> Result<String, String> {
    let path = item
        .field_ref
        .as_ref()
        .map(|f| f.field_path.as_str())
        .ok_or_else(|| format!("downwardAPI {:?}: only fieldRef is supported", item.path))?;
    Ok(match path {
        "metadata.name" => pod.name().to_string(),
        "metadata.namespace" => pod.namespace().to_string(),
        "metadata.uid" => pod.uid().to_string(),
        "spec.nodeName" => facts.node.name.clone(),
        "spec.serviceAccountName" => pod
            .spec
            .service_account_name
            .clone()
            .unwrap_or_else(|| "default".into()),
        "status.podIP" => facts.pod_ip.map(|i| i.to_string()).unwrap_or_default(),
        "status.hostIP" => facts.node.ip.clone(),
        other => {
            return Err(format!(
                "downwardAPI {:?}: fieldRef.fieldPath {other:?} is not resolved by this node agent",
                item.path
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::pod::SlimPod;

    #[test]
    fn the_service_account_volume_as_admission_writes_it() {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u"},
            "spec": {"serviceAccountName": "reader", "containers": [{"name": "c"}], "volumes": [
                {"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [
                        {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
                        {"path": "who/node", "fieldRef": {"fieldPath": "spec.nodeName"}, "mode": 256},
                        {"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}]}}]}}]}
        }))
        .unwrap();
        let pod = NodePod::from_watched(w).unwrap();
        // Kept for the pod's life, so sized to fit (every pod has one).
        let kept = pod.spec.volumes[0].projected().unwrap();
        assert_eq!(pod.spec.volumes.capacity(), 1);
        assert_eq!(kept.sources.capacity(), 3);
        let items = &kept.sources[2].downward_api().unwrap().items;
        assert_eq!(items.capacity(), items.len());
        let v = pod.spec.volumes[0].projected().cloned().unwrap();
        let mut src = EnvSources::default();
        src.config_maps.insert(
            "kube-root-ca.crt".into(),
            [("ca.crt".to_string(), "PEM".to_string())].into(),
        );
        let token = Token {
            volume: "kube-api-access-x".into(),
            path: "token".into(),
            audience: None,
            seconds: Some(3607),
            token: "eyJ.a.b".into(),
            issued: 0,
            expires: 3607,
        };
        let node = NodeFacts {
            name: "node-1".into(),
            ip: "10.168.0.3".into(),
        };
        let facts = Facts {
            node: &node,
            pod_ip: Some(Ipv4Addr::new(10, 0, 1, 5)),
            tokens: std::slice::from_ref(&token),
        };
        let got = files(&pod, "kube-api-access-x", &v, &src, &facts).unwrap();
        let want: Vec<File> = vec![
            ("token".into(), b"eyJ.a.b".to_vec(), 0o644),
            ("ca.crt".into(), b"PEM".to_vec(), 0o644),
            ("namespace".into(), b"n".to_vec(), 0o644),
            ("who/node".into(), b"node-1".to_vec(), 0o400),
            ("ip".into(), b"10.0.1.5".to_vec(), 0o644),
        ];
        assert_eq!(got, want);
        let e = files(&pod, "kube-api-access-x", &v, &EnvSources::default(), &facts).unwrap_err();
        assert_eq!(e, "configmap \"kube-root-ca.crt\" not found");
        let no_token = Facts { tokens: &[], ..facts };
        assert!(files(&pod, "kube-api-access-x", &v, &src, &no_token)
            .unwrap_err()
            .contains("no token"));
    }
}
