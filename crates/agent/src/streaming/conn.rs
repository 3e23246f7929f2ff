//! What the streaming server's handlers share: the connection (who is
//! calling) and how a request is refused.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::protocol::PROTOCOLS;
use super::{protocol, tls};
use crate::runtime::RuntimeConfig;

/// What every connection's handlers share.
pub struct Streaming {
    pub runtime: RuntimeConfig,
    pub node_name: String,
}

#[derive(Clone)]
pub(super) struct Conn {
    pub(super) s: Arc<Streaming>,
    /// Common name of the verified client certificate.
    pub(super) peer: Option<String>,
}

pub(super) fn refuse(code: StatusCode, reason: &str, message: &str) -> Response {
    tracing::info!("streaming request refused ({code}): {message}");
    (
        code,
        axum::Json(protocol::refusal(code.as_u16(), reason, message)),
    )
        .into_response()
}

/// The refusal of a failed lookup: not found, or a bad request.
pub(super) fn refuse_lookup(code: StatusCode, message: &str) -> Response {
    let reason = if code == StatusCode::NOT_FOUND {
        "NotFound"
    } else {
        "BadRequest"
    };
    refuse(code, reason, message)
}

/// The upgrade with one of our channel subprotocols chosen, or the refusal
/// naming what the client offered.
pub(super) fn negotiate(ws: WebSocketUpgrade) -> Result<WebSocketUpgrade, Box<Response>> {
    let ws = ws.protocols(PROTOCOLS);
    if ws.selected_protocol().is_some() {
        return Ok(ws);
    }
    let offered: Vec<&str> = ws.requested_protocols().filter_map(|v| v.to_str().ok()).collect();
    Err(Box::new(refuse(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("none of the offered subprotocols {offered:?} is one of {PROTOCOLS:?}"),
    )))
}

impl Conn {
    /// Only the API server (its kubelet-client certificate) may `what`:
    /// the refusal for anyone else.
    pub(super) fn refuse_unless_apiserver(&self, what: &str) -> Option<Response> {
        if self.peer.as_deref() == Some(tls::APISERVER_CLIENT_CN) {
            return None;
        }
        let who = self.peer.as_deref().unwrap_or("anonymous");
        Some(refuse(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "user {who:?} may not {what} on node {}: only {:?} may",
                self.s.node_name,
                tls::APISERVER_CLIENT_CN
            ),
        ))
    }
}
