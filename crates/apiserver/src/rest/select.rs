//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field
//! selectors (`metadata.name=x,spec.nodeName!=y`).

use super::status::ApiError;
use crate::store::Stored;
use serde_json::Value;

#[derive(Debug, Clone)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Vec<Req>,
    fields: Vec<Req>,
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(rest: &str) -> Option<Vec<String>> {
    let r = rest.trim();
    let inner = r.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn parse_label_req(t: &str) -> Result<Req, String> {
    if let Some(k) = t.strip_prefix('!') {
        return Ok(Req::NotExists(k.trim().to_string()));
    }
    if let Some((k, v)) = t.split_once("!=") {
        return Ok(Req::Ne(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
        return Ok(Req::Eq(k.trim().into(), v.trim().into()));
    }
    let words: Vec<&str> = t.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let rest = words[1].trim_start();
        if let Some(r) = rest.strip_prefix("notin") {
            return parse_set(r)
                .map(|s| Req::NotIn(words[0].into(), s))
                .ok_or_else(|| t.to_string());
        }
        if let Some(r) = rest.strip_prefix("in") {
            return parse_set(r)
                .map(|s| Req::In(words[0].into(), s))
                .ok_or_else(|| t.to_string());
        }
        return Err(t.to_string());
    }
    Ok(Req::Exists(t.to_string()))
}

impl Selector {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Self, ApiError> {
        let mut s = Selector::default();
        for t in split_top(label.unwrap_or("")) {
            s.labels.push(
                parse_label_req(&t)
                    .map_err(|t| ApiError::bad_request(format!("unable to parse requirement: {t:?}")))?,
            );
        }
        for t in split_top(field.unwrap_or("")) {
            let r = if let Some((k, v)) = t.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{t}'; can't understand '{t}'"
                )));
            };
            s.fields.push(r);
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// `matches` on a stored object from its index, parsing it (without
    /// keeping the parse) only for a field selector path the index lacks.
    pub fn matches_stored(&self, obj: &Stored) -> bool {
        if !self.labels.iter().all(|r| eval(r, |k| obj.label(k))) {
            return false;
        }
        let mut parsed: Option<Value> = None;
        self.fields.iter().all(|r| {
            let path = req_key(r);
            match obj.field(path) {
                Some(v) => eval(r, |_| Some(v.unwrap_or(""))),
                None => {
                    let v = parsed.get_or_insert_with(|| obj.parse());
                    eval(r, |k: &str| field_value(v, k))
                }
            }
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let lab_ok = self.labels.iter().all(|r| eval(r, label));
        lab_ok && self.fields.iter().all(|r| eval(r, |k: &str| field_value(obj, k)))
    }
}

fn req_key(r: &Req) -> &str {
    match r {
        Req::Eq(k, _)
        | Req::Ne(k, _)
        | Req::In(k, _)
        | Req::NotIn(k, _)
        | Req::Exists(k)
        | Req::NotExists(k) => k,
    }
}

fn eval<'a>(r: &Req, get: impl Fn(&str) -> Option<&'a str>) -> bool {
    match r {
        Req::Eq(k, v) => get(k) == Some(v.as_str()),
        Req::Ne(k, v) => get(k) != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|h| vs.iter().any(|v| v == h)),
        Req::NotIn(k, vs) => get(k).is_none_or(|h| !vs.iter().any(|v| v == h)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    }
}

/// A field selector path; absent string fields compare as "".
fn field_value<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    let ptr = format!("/{}", path.replace('.', "/"));
    Some(obj.pointer(&ptr).and_then(Value::as_str).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn label_and_field() {
        let o = json!({"metadata":{"name":"p","labels":{"app":"x","tier":"web"}},"spec":{"nodeName":"n1"}});
        let ok = |l: &str, f: &str| Selector::parse(Some(l), Some(f)).unwrap().matches(&o);
        assert!(ok("app=x", ""));
        assert!(ok("app in (x,y),tier", "spec.nodeName=n1"));
        assert!(!ok("app notin (x)", ""));
        assert!(ok("!missing,app!=z", "metadata.name==p"));
        assert!(!ok("", "spec.nodeName!=n1"));
        assert!(ok("", "spec.nodeName!=,status.phase="));
    }

    /// The index answers as the parsed object does, for indexed and
    /// unindexed paths alike, and keeps nothing parsed.
    #[test]
    fn stored_objects_match_as_their_values() {
        let o = json!({"metadata":{"name":"p","namespace":"n","labels":{"app":"x","tier":"web"}},
            "spec":{"nodeName":"n1","hostname":"h"},"status":{"phase":"Running"}});
        let s = Stored::new(&o);
        let cases = [
            ("app=x", ""),
            ("app in (x,y),tier", "spec.nodeName=n1"),
            ("app notin (x)", ""),
            ("!missing,app!=z", "metadata.name==p"),
            ("", "spec.nodeName!=n1"),
            ("", "spec.nodeName!=,status.phase=Running"),
            ("", "status.podIP="),
            ("", "spec.hostname=h"),
            ("", "spec.hostname=other"),
            ("tier=web", "metadata.namespace=n,spec.subdomain="),
            ("tier=db", ""),
        ];
        for (l, f) in cases {
            let sel = Selector::parse(Some(l), Some(f)).unwrap();
            assert_eq!(sel.matches_stored(&s), sel.matches(&o), "{l:?} {f:?}");
        }
        assert!(!s.is_parsed());
    }
}
