//! SelfSubjectReview (`kubectl auth whoami`): the caller's identity as this
//! server authenticated it. Any authenticated caller may ask, as the real
//! server's system:basic-user role allows.

use crate::auth::Identity;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The group version and resource it is served under.
pub const GROUP: &str = "authentication.k8s.io";
pub const RESOURCE: &str = "selfsubjectreviews";

pub fn review(user: &Identity) -> Response {
    let mut info = json!({"username": user.username(), "groups": user.groups()});
    if let Identity::ServiceAccount { uid, .. } = user {
        info["uid"] = json!(uid);
    }
    let out = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": info},
    });
    (StatusCode::CREATED, axum::Json(out)).into_response()
}
