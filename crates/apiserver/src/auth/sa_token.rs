//! Service-account tokens: JWTs (header.claims.signature, base64url) signed
//! with HMAC-SHA256 under a key only this server holds (`pki/sa-signing.key`
//! in the data dir, made on first start). ring, already used for TLS and
//! digests, does the HMAC, so no JWT crate is needed. A token names its
//! service account by namespace, name and uid, carries audiences and an
//! expiry, and is accepted only while that account still exists with the
//! same uid (a bound token, as TokenRequest issues them).

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The audience (and issuer) of tokens meant for this API server, as
/// kube-apiserver's default `--api-audiences` and `--service-account-issuer`.
pub fn api_audience(cluster_domain: &str) -> String {
    format!("https://kubernetes.default.svc.{cluster_domain}")
}

/// The signing key, read from `data_dir/pki/sa-signing.key` or made there.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<ring::hmac::Key> {
    use anyhow::Context;
    let p = data_dir.join("pki/sa-signing.key");
    let bytes = match std::fs::read_to_string(&p) {
        Ok(s) => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .with_context(|| format!("{} is not base64", p.display()))?,
        Err(_) => {
            let mut b = vec![0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&p, base64::engine::general_purpose::STANDARD.encode(&b))
                .with_context(|| format!("writing {}", p.display()))?;
            b
        }
    };
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRef {
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct K8sClaims {
    pub namespace: String,
    pub serviceaccount: AccountRef,
    /// The pod the token is bound to (TokenRequest's `boundObjectRef`):
    /// the token is accepted only while that pod exists with this uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<AccountRef>,
}

/// The claims, with the names the real server's tokens use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    pub sub: String,
    #[serde(rename = "kubernetes.io")]
    pub k8s: K8sClaims,
}

impl Claims {
    pub fn new(issuer: &str, ns: &str, name: &str, uid: &str, aud: Vec<String>, now: i64, ttl: i64) -> Self {
        Claims {
            aud,
            exp: now + ttl,
            iat: now,
            nbf: now,
            iss: issuer.to_string(),
            sub: format!("system:serviceaccount:{ns}:{name}"),
            k8s: K8sClaims {
                namespace: ns.to_string(),
                serviceaccount: AccountRef {
                    name: name.to_string(),
                    uid: uid.to_string(),
                },
                pod: None,
            },
        }
    }
}

/// Whether `token` looks like a JWT (and so is ours to judge).
pub fn is_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

pub fn sign(key: &ring::hmac::Key, claims: &Claims) -> String {
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = B64URL.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{header}.{body}");
    let tag = ring::hmac::sign(key, signed.as_bytes());
    format!("{signed}.{}", B64URL.encode(tag.as_ref()))
}

/// The claims of a token this server signed, for `audience`, valid at `now`;
/// otherwise why not.
pub fn verify(key: &ring::hmac::Key, token: &str, audience: &str, now: i64) -> Result<Claims, String> {
    let (signed, sig) = token.rsplit_once('.').ok_or("not a JWT")?;
    let sig = B64URL.decode(sig).map_err(|_| "bad signature encoding")?;
    ring::hmac::verify(key, signed.as_bytes(), &sig).map_err(|_| "invalid signature")?;
    let (header, body) = signed.split_once('.').ok_or("not a JWT")?;
    let header: serde_json::Value = serde_json::from_slice(&B64URL.decode(header).map_err(|_| "bad header")?)
        .map_err(|_| "bad header")?;
    if header["alg"] != "HS256" {
        return Err("unexpected signing algorithm".into());
    }
    let claims: Claims = serde_json::from_slice(&B64URL.decode(body).map_err(|_| "bad claims")?)
        .map_err(|e| format!("bad claims: {e}"))?;
    if now >= claims.exp {
        return Err("token has expired".into());
    }
    if now < claims.nbf {
        return Err("token is not valid yet".into());
    }
    if !claims.aud.iter().any(|a| a == audience) {
        return Err("token audiences do not include this API server".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn signed_checked_and_refused() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef");
        let aud = api_audience("cluster.local");
        let c = Claims::new(&aud, "ns", "sa", "u1", vec![aud.clone()], 1000, 3600);
        let t = sign(&key, &c);
        assert!(is_jwt(&t));
        assert_eq!(verify(&key, &t, &aud, 1001).unwrap(), c);
        assert_eq!(c.sub, "system:serviceaccount:ns:sa");
        assert_eq!(verify(&key, &t, &aud, 4600).unwrap_err(), "token has expired");
        assert!(verify(&key, &t, "vault", 1001).unwrap_err().contains("audiences"));
        let other = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another key, another cluster....");
        assert_eq!(verify(&other, &t, &aud, 1001).unwrap_err(), "invalid signature");
        // A changed claim breaks the signature.
        let (h, rest) = t.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let forged = Claims::new(&aud, "kube-system", "admin", "u1", vec![aud.clone()], 1000, 3600);
        let body = B64URL.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verify(&key, &format!("{h}.{body}.{s}"), &aud, 1001).unwrap_err(),
            "invalid signature"
        );
    }
}
