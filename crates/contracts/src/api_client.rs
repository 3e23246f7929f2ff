//! How every long-running component reaches the API server: one TLS
//! connection speaking HTTP/2, each watch and request a stream on it, as
//! client-go does. kube's own builder speaks HTTP/1.1 only, where every
//! request in flight takes a connection of its own (a TLS session and its
//! buffers, ~30 KiB) and the pool keeps each one it opened for 90 s: a
//! kubelet starting 50 pods held 13 more connections after the burst,
//! ~450 KiB, most of what it grew by (heaptrack, 2026-12-05).
//!
//! The stack is kube's otherwise: the cluster URL, its retry of 429/503/504,
//! the credential (a client certificate, or a token file re-read as it
//! rotates) and the extra headers. A server that does not offer `h2` in
//! ALPN gets HTTP/1.1, with at most [`IDLE_PER_HOST`] idle connections kept.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::retry::RetryPolicy;
use kube::client::ConfigExt;
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// An HTTP/2 connection silent this long is pinged, and closed if the
/// answer takes longer than [`PING_TIMEOUT`]: a server that vanished
/// without a reset (its node gone) is noticed, and every watch on the
/// connection restarts, as client-go's read-idle / ping timeouts do.
pub const PING_EVERY: Duration = Duration::from_secs(30);
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// HTTP/1.1 only (a server without `h2`): idle connections kept per host.
pub const IDLE_PER_HOST: usize = 2;

/// A client for `config` that multiplexes over one HTTP/2 connection.
pub fn client(config: kube::Config) -> kube::Result<kube::Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    // Streams share the connection: without it a small frame (a request's
    // headers after the previous one's body) waits on Nagle for the server's
    // delayed ACK, ~40 ms per request.
    http.set_nodelay(true);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e)))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = https.enable_http1().enable_http2().wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .http2_keep_alive_interval(PING_EVERY)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
