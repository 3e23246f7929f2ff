//! A mirror pod (the API's picture of a node's static pod, marked with
//! `labyrinth_contracts::mirror_pod::ANNOTATION`) cannot be changed into
//! something its node does not run: its spec and its mark stay as the
//! node's agent made them, as the real API server keeps them (the
//! manifest on the node is the only way to change the pod). Labels and
//! other metadata may change; the node reports its status as usual.

use labyrinth_contracts::mirror_pod::ANNOTATION;
use serde_json::Value;

use super::status::{ApiError, ApiResult, FieldError};
use crate::resources::ResourceDef;

/// Refuse an update of a mirror pod that changes its spec or its mark.
pub fn check(res: &ResourceDef, name: &str, cur: &Value, new: &Value) -> ApiResult<()> {
    let mark = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(ANNOTATION))
            .cloned()
    };
    let Some(was) = mark(cur) else {
        return Ok(());
    };
    let mut errs = Vec::new();
    if new.get("spec") != cur.get("spec") {
        errs.push(FieldError::forbidden(
            "spec",
            "a mirror pod's spec may not change: it shows a static pod, which only its manifest on the node changes",
        ));
    }
    if mark(new).as_ref() != Some(&was) {
        errs.push(FieldError::forbidden(
            format!("metadata.annotations[{ANNOTATION}]"),
            "field is immutable",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res, name, &errs))
    }
}
