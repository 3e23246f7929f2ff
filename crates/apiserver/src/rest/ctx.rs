//! One API request, parsed: the resource path it names and what came
//! with it (query, headers, body, the caller).

use crate::auth::identity::Identity;
use crate::resources::ResourceDef;
use axum::body::Bytes;
use axum::http::HeaderMap;
use std::collections::HashMap;

/// A resource path, parsed.
#[derive(Debug, Clone)]
pub struct Target {
    pub res: &'static ResourceDef,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    pub watch_path: bool,
}

pub struct Ctx {
    pub target: Target,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub accept: String,
    pub user: Identity,
}

impl Ctx {
    pub fn res(&self) -> &'static ResourceDef {
        self.target.res
    }
    pub fn ns(&self) -> String {
        self.target.ns.clone().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    pub fn header(&self, k: &str) -> String {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
    pub fn include_object(&self) -> String {
        self.q("includeObject").unwrap_or("Metadata").to_string()
    }
    pub fn field_validation(&self) -> String {
        self.q("fieldValidation").unwrap_or("Warn").to_string()
    }
    pub fn dry_run(&self) -> bool {
        self.q("dryRun").is_some_and(|v| !v.is_empty())
    }
    /// A boolean query parameter read as the real server reads it: absent,
    /// "0" and any case of "false" are false; anything else (even "" or
    /// Python's "True") is true.
    pub fn flag(&self, k: &str) -> bool {
        self.q(k)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }
}
