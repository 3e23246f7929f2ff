//! Where the kubelet would record an Event (Started, BackOff, Killing,
//! Unhealthy): one function, so that it can post to the Events API once
//! the API server serves it; until then the agent's log says it.

use crate::runtime::PodRef;

/// A Normal or Warning event about `pod`.
pub fn emit(pod: &PodRef, warning: bool, reason: &str, message: &str) {
    let kind = if warning { "Warning" } else { "Normal" };
    tracing::info!(pod = %pod.label(), kind, reason, "{message}");
}
