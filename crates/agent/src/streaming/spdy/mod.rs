//! SPDY/3.1, the framing `kubectl port-forward` speaks to a kubelet: the
//! client opens streams with header blocks, the server replies and both
//! send data frames. Carried raw after an HTTP `Upgrade: SPDY/3.1`, or in
//! websocket binary messages (`SPDY/3.1+portforward.k8s.io`, which current
//! kubectl tries first). Flow control (WINDOW_UPDATE) is not applied, as
//! Kubernetes' own SPDY library does not apply it either.

pub mod dictionary;
pub mod frame;
pub mod headers;
