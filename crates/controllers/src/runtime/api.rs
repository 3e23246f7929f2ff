//! What every controller's writes and reads share: the field manager they
//! write as, the error their reconcilers return, and small helpers for the
//! API's status codes, object keys and timestamps.

/// The field manager / user agent part our writes carry.
pub const MANAGER: &str = "labyrinth-controllers";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Logic(String),
}

/// HTTP status of an API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub(crate) fn ns_key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

pub(crate) fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    // Whole seconds, as the API serialises them, so a status we computed
    // compares equal to the one read back.
    let t = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t),
    )
}
