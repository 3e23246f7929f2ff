//! The port-number rule every kind with ports shares (Services, pods,
//! Endpoints).

use crate::rest::status::FieldError;
use serde_json::Value;

/// A port number must be 1–65535; a non-number is the decoder's business.
pub(super) fn port_range(v: &Value, field: String, errs: &mut Vec<FieldError>) {
    if let Some(p) = v.as_i64() {
        if !(1..=65535).contains(&p) {
            errs.push(FieldError::invalid(
                field,
                v,
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
}
