//! A projected service-account token as the kubelet role keeps it: the
//! token as issued, the pod and account it is bound to, and when it is to
//! be renewed. Shared by the volume's writer (`projected`), the renewals'
//! store (`renewals`) and their task (`token_renewal`).

use super::nodepod::NodePod;
use crate::runtime::PodRef;

/// A token one projected volume holds, as the API server issued it.
#[derive(Clone, Debug)]
pub struct Token {
    pub volume: String,
    pub path: String,
    pub audience: Option<String>,
    pub seconds: Option<i64>,
    pub token: String,
    /// Unix seconds: when it was issued and when it expires.
    pub issued: i64,
    pub expires: i64,
}

/// The pod a token is bound to and its account: what a renewal keeps of
/// the pod.
pub struct Holder {
    pub pod: PodRef,
    pub account: String,
}

impl Holder {
    pub fn of(pod: &NodePod) -> Holder {
        Holder {
            pod: pod.pod_ref(),
            account: pod
                .spec
                .service_account_name
                .clone()
                .unwrap_or_else(|| "default".into()),
        }
    }
}

pub fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// When a token is to be replaced: at 80% of its life, as the kubelet's
/// token manager does (and at the latest a day after it was issued).
pub fn refresh_at(issued: i64, expires: i64) -> i64 {
    let life = (expires - issued).max(0);
    issued + (life * 8 / 10).min(24 * 3600)
}

/// A projected volume's tokens, to be kept fresh (each names its volume).
pub struct Fresh {
    pub tokens: Vec<Token>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewed_at_four_fifths_of_its_life() {
        assert_eq!(refresh_at(1000, 1000 + 3607), 1000 + 2885);
        assert_eq!(refresh_at(0, 10 * 24 * 3600), 24 * 3600);
    }
}
