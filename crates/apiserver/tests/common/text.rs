//! A kube-rs client that returns response bodies exactly as the server
//! sent them, for tests about bytes on the wire (spliced lists, watch
//! lines), on a runtime of its own so tests stay synchronous.

use serde_json::Value;

use super::TestServer;

pub struct TextClient {
    rt: tokio::runtime::Runtime,
    c: kube::Client,
}

impl TextClient {
    pub fn new(s: &TestServer) -> Self {
        let rt = super::runtime();
        let c = rt.block_on(super::kube_client(&s.kubeconfig()));
        Self { rt, c }
    }

    /// The response body as the server sent it. A PATCH is a merge patch.
    pub fn text(&self, method: &str, path: &str, body: Option<&Value>, accept: Option<&str>) -> String {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if body.is_some() {
            let ct = if method == "PATCH" {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            req = req.header("content-type", ct);
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let req = req
            .body(body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default())
            .unwrap();
        self.rt.block_on(self.c.request_text(req)).unwrap()
    }

    pub fn get(&self, path: &str) -> String {
        self.text("GET", path, None, None)
    }
}
