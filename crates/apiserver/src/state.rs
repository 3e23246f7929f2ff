//! The API server's shared state, handed to every request handler: the
//! store, the ClusterIP and NodePort allocators and what the server tells clients and
//! node agents. Its own module so that the REST dispatcher and the
//! authorizer, which the dispatcher calls, both take it from here.

use crate::alloc::ClusterIpAllocator;
use crate::nodeports::NodePortAllocator;
use crate::store::Store;
use std::sync::{Arc, Mutex};

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub alloc: Mutex<ClusterIpAllocator>,
    pub node_ports: Mutex<NodePortAllocator>,
    /// Token of the cluster admin (kubectl).
    pub admin_token: String,
    /// The CA certificate (PEM) published in kube-public/cluster-info.
    pub ca_pem: String,
    /// host:port clients should use.
    pub advertise: String,
    /// TLS (with our kubelet-client certificate) towards the node agents.
    pub kubelet_tls: Arc<rustls::ClientConfig>,
    /// Signs and checks service-account tokens (auth::sa_token).
    pub sa_key: ring::hmac::Key,
    /// The audience and issuer of tokens meant for this server.
    pub api_audience: String,
}
