//! Bootstrap tokens (`<6 char id>.<16 char secret>`, kept as kubeadm keeps
//! them: Secrets `bootstrap-token-<id>` in kube-system with an expiration) and
//! node credentials (Secrets holding only the token's sha256, bound to the node
//! name).

use crate::rest::status::{ApiError, ApiResult};
use crate::store::Store;
use base64::Engine;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub fn random_string(n: usize, alphabet: &[u8]) -> String {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    b.iter()
        .map(|x| alphabet[*x as usize % alphabet.len()] as char)
        .collect()
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn data_str(secret: &Value, key: &str) -> Option<String> {
    let b = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    String::from_utf8(B64.decode(b).ok()?).ok()
}

pub fn is_bootstrap_format(token: &str) -> bool {
    let ok =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    matches!(token.split_once('.'), Some((id, sec)) if ok(id, 6) && ok(sec, 16))
}

/// A new bootstrap token Secret (not stored); returns (token, secret object).
pub fn new_bootstrap_token(ttl: std::time::Duration) -> (String, Value) {
    let id = random_string(6, LOWER_ALNUM);
    let secret = random_string(16, LOWER_ALNUM);
    let exp = jiff::Timestamp::now()
        + jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::from_hours(24));
    let exp = exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let obj = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {
            "token-id": B64.encode(&id), "token-secret": B64.encode(&secret),
            "expiration": B64.encode(&exp), "usage-bootstrap-authentication": B64.encode("true"),
            "usage-bootstrap-signing": B64.encode("true"),
        }
    });
    (format!("{id}.{secret}"), obj)
}

/// Some(id) for a valid bootstrap token; 401 with the reason for a bad one;
/// None when `token` is not of the bootstrap form.
pub fn check_bootstrap(store: &dyn Store, token: &str) -> ApiResult<Option<String>> {
    if !is_bootstrap_format(token) {
        return Ok(None);
    }
    let (id, sec) = token.split_once('.').expect("checked format");
    let Some(s) = store.get("secrets", "kube-system", &format!("bootstrap-token-{id}")) else {
        return Err(ApiError::unauthorized(format!(
            "bootstrap token {id:?} is unknown"
        )));
    };
    let stored = data_str(&s, "token-secret").unwrap_or_default();
    if !ct_eq(stored.as_bytes(), sec.as_bytes()) {
        return Err(ApiError::unauthorized(format!(
            "bootstrap token {id:?}: wrong secret"
        )));
    }
    if let Some(exp) = data_str(&s, "expiration") {
        let exp: jiff::Timestamp = exp
            .parse()
            .map_err(|_| ApiError::unauthorized("bootstrap token with a bad expiration"))?;
        if exp <= jiff::Timestamp::now() {
            return Err(ApiError::unauthorized(format!(
                "bootstrap token {id:?} has expired"
            )));
        }
    }
    Ok(Some(id.to_string()))
}

fn node_secret_name(token: &str) -> String {
    format!("node-token-{}", &sha256_hex(token)[..20])
}

/// A fresh node credential for `node` (token, secret object to store).
pub fn new_node_token(node: &str) -> (String, Value) {
    let token = format!("lbn.{}", random_string(40, LOWER_ALNUM));
    let obj = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": node_secret_name(&token), "namespace": "kube-system",
            "labels": {"labyrinth.dev/node": node}},
        "type": "labyrinth.dev/node-token",
        "data": {"node-name": B64.encode(node), "token-sha256": B64.encode(sha256_hex(&token))},
    });
    (token, obj)
}

pub fn check_node(store: &dyn Store, token: &str) -> Option<String> {
    if !token.starts_with("lbn.") {
        return None;
    }
    let s = store.get("secrets", "kube-system", &node_secret_name(token))?;
    let want = data_str(&s, "token-sha256")?;
    let have = sha256_hex(token);
    ct_eq(want.as_bytes(), have.as_bytes()).then_some(())?;
    data_str(&s, "node-name")
}

/// Equality whose time does not depend on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LogStore;
    #[test]
    fn bootstrap_and_node_tokens() {
        let st = LogStore::in_memory();
        let (tok, obj) = new_bootstrap_token(std::time::Duration::from_secs(60));
        assert!(is_bootstrap_format(&tok));
        let id = tok.split('.').next().unwrap().to_string();
        st.create("secrets", "kube-system", &format!("bootstrap-token-{id}"), obj)
            .unwrap();
        assert_eq!(check_bootstrap(&st, &tok).unwrap(), Some(id.clone()));
        let wrong = format!("{id}.{}", "a".repeat(16));
        assert_eq!(check_bootstrap(&st, &wrong).unwrap_err().code, 401);
        let (nt, nobj) = new_node_token("node-1");
        let name = nobj["metadata"]["name"].as_str().unwrap().to_string();
        st.create("secrets", "kube-system", &name, nobj).unwrap();
        assert_eq!(check_node(&st, &nt).as_deref(), Some("node-1"));
        assert_eq!(check_node(&st, "lbn.nope"), None);
    }
}
