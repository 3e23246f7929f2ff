//! metav1.DeleteOptions of one DELETE request, typed once. kubectl sends
//! them in the body (`kubectl delete --dry-run=server` puts `dryRun: ["All"]`
//! there and nothing in the query), other clients in the query; both are
//! read, the query winning where both say something, as the real server's
//! parameter decoding over the body does.

use super::ctx::Ctx;
use super::status::{ApiError, ApiResult};
use serde::Deserialize;

/// What happens to the dependents (objects whose ownerReferences name the
/// deleted one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Propagation {
    /// The owner goes now; the garbage collector removes dependents after.
    Background,
    /// Dependents go first; the owner carries the foregroundDeletion
    /// finalizer meanwhile.
    Foreground,
    /// Dependents stay, their ownerReference to the owner removed.
    Orphan,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<u64>,
}

/// The options of a delete, from the query and the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub dry_run: bool,
    /// None: the kind's default (Background for everything served here).
    pub propagation: Option<Propagation>,
    /// None: the object's own (a pod's terminationGracePeriodSeconds).
    pub grace_period_seconds: Option<i64>,
    pub preconditions: Preconditions,
}

/// The body's shape; unknown fields (kind, apiVersion, orphanDependents'
/// successors) are ignored as the real decoder does.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    dry_run: Vec<String>,
    propagation_policy: Option<Propagation>,
    grace_period_seconds: Option<i64>,
    orphan_dependents: Option<bool>,
    preconditions: Option<BodyPreconditions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BodyPreconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_request(msg)
}

fn dry_run_values(values: &[String]) -> ApiResult<bool> {
    for v in values {
        if v != "All" {
            return Err(bad(format!(
                "Invalid value: {v:?}: supported values: \"All\"; dryRun"
            )));
        }
    }
    Ok(!values.is_empty())
}

fn propagation(s: &str) -> ApiResult<Propagation> {
    match s {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => Err(bad(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

impl DeleteOptions {
    pub fn parse(ctx: &Ctx) -> ApiResult<Self> {
        let body: Body = if ctx.body.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            let v = super::admit::parse_body(ctx)?;
            serde_json::from_value(v).map_err(|e| bad(format!("invalid DeleteOptions: {e}")))?
        };
        let mut o = DeleteOptions {
            dry_run: dry_run_values(&body.dry_run)?,
            propagation: body.propagation_policy,
            grace_period_seconds: body.grace_period_seconds,
            preconditions: Preconditions::default(),
        };
        if body.orphan_dependents == Some(true) && o.propagation.is_none() {
            o.propagation = Some(Propagation::Orphan);
        }
        if let Some(p) = body.preconditions {
            o.preconditions.uid = p.uid.filter(|u| !u.is_empty());
            o.preconditions.resource_version = match p.resource_version.filter(|s| !s.is_empty()) {
                Some(s) => Some(
                    s.parse()
                        .map_err(|_| bad(format!("invalid precondition resourceVersion {s:?}")))?,
                ),
                None => None,
            };
        }
        if let Some(v) = ctx.q("dryRun").filter(|v| !v.is_empty()) {
            o.dry_run = dry_run_values(&[v.to_string()])?;
        }
        if let Some(p) = ctx.q("propagationPolicy").filter(|v| !v.is_empty()) {
            o.propagation = Some(propagation(p)?);
        }
        if let Some(g) = ctx.q("gracePeriodSeconds").filter(|v| !v.is_empty()) {
            o.grace_period_seconds = Some(
                g.parse()
                    .map_err(|_| bad(format!("gracePeriodSeconds: invalid value {g:?}")))?,
            );
        }
        if o.grace_period_seconds.is_some_and(|g| g < 0) {
            // The real server treats a negative grace period as "use 1s";
            // zero stays zero (immediate).
            o.grace_period_seconds = Some(1);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::identity::Identity;
    use crate::rest::ctx::Target;

    fn ctx(query: &[(&str, &str)], body: &str) -> Ctx {
        Ctx {
            target: Target {
                res: crate::resources::find("", "v1", "pods").unwrap(),
                ns: Some("default".into()),
                name: Some("p".into()),
                sub: None,
                watch_path: false,
            },
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Default::default(),
            body: body.as_bytes().to_vec().into(),
            accept: String::new(),
            user: Identity::Anonymous,
        }
    }

    #[test]
    fn body_and_query_are_both_read() {
        let o = DeleteOptions::parse(&ctx(
            &[],
            r#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Foreground","gracePeriodSeconds":0}"#,
        ))
        .unwrap();
        assert!(o.dry_run);
        assert_eq!(o.propagation, Some(Propagation::Foreground));
        assert_eq!(o.grace_period_seconds, Some(0));
        let o = DeleteOptions::parse(&ctx(
            &[
                ("dryRun", "All"),
                ("propagationPolicy", "Orphan"),
                ("gracePeriodSeconds", "5"),
            ],
            "",
        ))
        .unwrap();
        assert_eq!(
            (o.dry_run, o.propagation, o.grace_period_seconds),
            (true, Some(Propagation::Orphan), Some(5))
        );
        let o = DeleteOptions::parse(&ctx(&[], r#"{"orphanDependents":true}"#)).unwrap();
        assert_eq!(o.propagation, Some(Propagation::Orphan));
        assert_eq!(
            DeleteOptions::parse(&ctx(&[], "")).unwrap(),
            DeleteOptions::default()
        );
    }

    #[test]
    fn bad_values_are_400_naming_the_field() {
        let e = DeleteOptions::parse(&ctx(&[("propagationPolicy", "Sideways")], "")).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("propagationPolicy"), "{}", e.message);
        let e = DeleteOptions::parse(&ctx(&[], r#"{"dryRun":["Some"]}"#)).unwrap_err();
        assert!(e.message.contains("dryRun"), "{}", e.message);
    }
}
