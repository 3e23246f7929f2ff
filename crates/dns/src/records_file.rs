//! Static mode: Services, EndpointSlices and Pods read from a YAML (multi
//! document, or a `kind: List`) or JSON file instead of the API server.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Object;

/// Parses objects from text (YAML or JSON).
pub fn parse(text: &str) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v =
            Value::deserialize(doc).with_context(|| format!("document {}: not valid YAML/JSON", i + 1))?;
        collect(v, &mut out).with_context(|| format!("document {}", i + 1))?;
    }
    Ok(out)
}

/// Reads objects from a file.
pub fn load(path: &Path) -> Result<Vec<Object>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading records file {}", path.display()))?;
    parse(&text).with_context(|| format!("records file {}", path.display()))
}

fn collect(v: Value, out: &mut Vec<Object>) -> Result<()> {
    if v.is_null() {
        return Ok(());
    }
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .context("field `kind` missing")?
        .to_string();
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let obj = match kind.as_str() {
        "List" | "ServiceList" | "EndpointSliceList" | "PodList" => {
            let items = match v.get("items") {
                Some(Value::Array(items)) => items.clone(),
                // `items:` with nothing under it is an empty list in YAML.
                Some(Value::Null) => Vec::new(),
                _ => bail!("field `items` of {kind} must be a list"),
            };
            for (i, item) in items.into_iter().enumerate() {
                collect(item, out).with_context(|| format!("items[{i}]"))?;
            }
            return Ok(());
        }
        "Service" => Object::Service(Box::new(
            serde_json::from_value(v).with_context(|| format!("Service {name:?}"))?,
        )),
        "EndpointSlice" => Object::Slice(Box::new(
            serde_json::from_value(v).with_context(|| format!("EndpointSlice {name:?}"))?,
        )),
        "Pod" => Object::Pod(Box::new(
            serde_json::from_value(v).with_context(|| format!("Pod {name:?}"))?,
        )),
        other => bail!("field `kind`: unsupported kind {other:?} (want Service, EndpointSlice, Pod or List)"),
    };
    if obj.key().0.is_empty() || obj.key().1.is_empty() {
        bail!("{kind} {name:?}: metadata.namespace and metadata.name are required");
    }
    out.push(obj);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_document_yaml_and_lists() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-abc, namespace: default, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints: [{addresses: [10.244.1.5]}]
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: default}
  status: {podIP: 10.244.1.5}
"#;
        let objs = parse(text).unwrap();
        let kinds: Vec<_> = objs.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            vec![
                crate::catalog::Kind::Service,
                crate::catalog::Kind::Slice,
                crate::catalog::Kind::Pod
            ]
        );
        assert_eq!(objs[1].key(), ("default".into(), "web-abc".into()));
    }

    #[test]
    fn errors_name_the_field() {
        let e = format!(
            "{:#}",
            parse("kind: ConfigMap\nmetadata: {name: x, namespace: y}\n").unwrap_err()
        );
        assert!(e.contains("unsupported kind \"ConfigMap\""), "{e}");
        let e = format!("{:#}", parse("metadata: {name: x}\n").unwrap_err());
        assert!(e.contains("`kind` missing"), "{e}");
        let e = format!("{:#}", parse("kind: Service\nmetadata: {name: x}\n").unwrap_err());
        assert!(e.contains("metadata.namespace"), "{e}");
        let e = format!(
            "{:#}",
            parse("kind: Service\nmetadata: {name: x, namespace: y}\nspec: {ports: 3}\n").unwrap_err()
        );
        assert!(e.contains("Service \"x\""), "{e}");
    }
}
