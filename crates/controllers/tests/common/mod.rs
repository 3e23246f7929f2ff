//! What the controller tests share: a bounded poll.
#![allow(dead_code)]

use std::time::Duration;

/// Poll `probe` every 200 ms until it gives a value; fail after 90 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..450 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gave up waiting for {what}");
}
