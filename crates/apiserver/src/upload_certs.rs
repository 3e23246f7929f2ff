//! The control plane's shared secrets as kubeadm's `init phase upload-certs`
//! hands them to the next control plane: each file sealed with AES-256-GCM
//! under a 32-byte certificate key (printed as hex, never stored in the
//! cluster), in the Secret `kube-system/kubeadm-certs`, which a bootstrap
//! token may read (the Role and RoleBinding kubeadm makes). `join
//! --control-plane --certificate-key` opens it.
//!
//! A sealed value is nonce ‖ ciphertext ‖ tag, the layout kubeadm's
//! `gcm.Seal(nonce, nonce, data, nil)` writes. The Secret carries its
//! expiry in an annotation (kubeadm ties it to a bootstrap token of the
//! same lifetime, which the token cleaner deletes): a join refuses an
//! expired Secret even before anything deletes it.

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};
use std::path::Path;

pub const NAMESPACE: &str = "kube-system";
/// kubeadm's name.
pub const SECRET_NAME: &str = "kubeadm-certs";
/// The annotation holding the Secret's expiry (RFC 3339).
pub const EXPIRES_ANNOTATION: &str = "labyrinth.dev/expires";
/// kubeadm's lifetime of the uploaded certificates.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 3600);
/// The Role (and its binding) that lets bootstrap tokens read the Secret.
pub const ROLE: &str = "kubeadm:kubeadm-certs";
/// Who joins with a bootstrap token.
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";

/// What every API server of a cluster must share, as (Secret key, file
/// under the API server's data dir): the CA that issues every serving and
/// client certificate, the service-account signing key, and the admin
/// credential (this server's stand-in for kubeadm's admin client
/// certificate, which any copy of the CA could issue).
pub const SHARED: [(&str, &str); 4] = [
    ("ca.crt", "pki/ca.crt"),
    ("ca.key", "pki/ca.key"),
    ("sa.key", "pki/sa-signing.key"),
    ("admin.token", "admin.token"),
];

/// The 32-byte AES-256 key, written as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateKey([u8; 32]);

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateKey(…)")
    }
}

impl std::fmt::Display for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::str::FromStr for CertificateKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() != 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "--certificate-key: expected 64 hex digits (32 bytes), got {} characters{}",
                s.len(),
                if s.bytes().all(|c| c.is_ascii_hexdigit()) {
                    ""
                } else {
                    " with non-hex ones"
                }
            ));
        }
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("checked hex");
        }
        Ok(Self(k))
    }
}

impl CertificateKey {
    pub fn generate() -> anyhow::Result<Self> {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| anyhow::anyhow!("no randomness for the certificate key"))?;
        Ok(Self(k))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32 bytes is AES-256's key length"))
    }

    /// nonce ‖ ciphertext ‖ tag, with a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut body = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
            .map_err(|_| anyhow::anyhow!("AES-256-GCM sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend(body);
        Ok(out)
    }

    /// The plaintext, or None when `sealed` was not sealed under this key
    /// (or was changed since).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self.aead().open_in_place(nonce, Aad::empty(), &mut body).ok()?;
        Some(plain.to_vec())
    }
}

/// Why the uploaded certificates cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("Secret {NAMESPACE}/{SECRET_NAME} expired at {0}: upload the certificates again (`labyrinth init phase upload-certs --upload-certs` on a control plane)")]
    Expired(String),
    #[error(
        "the certificate key does not decrypt {NAMESPACE}/{SECRET_NAME} (key {0:?}): check --certificate-key"
    )]
    WrongKey(String),
    #[error("Secret {NAMESPACE}/{SECRET_NAME}: {0}")]
    Malformed(String),
}

/// The Secret holding `files` (Secret key → content) sealed under `key`,
/// expiring at `expires`.
pub fn secret(
    key: &CertificateKey,
    files: &[(&str, Vec<u8>)],
    expires: jiff::Timestamp,
) -> anyhow::Result<Value> {
    let mut data = serde_json::Map::new();
    for (name, body) in files {
        data.insert(name.to_string(), json!(B64.encode(key.seal(body)?)));
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": NAMESPACE,
            "annotations": {EXPIRES_ANNOTATION: expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
        },
        "data": data,
    }))
}

/// Every file of the Secret, opened with `key`, checked against its expiry
/// at `now`; each of [`SHARED`] must be there.
pub fn open_secret(
    s: &Value,
    key: &CertificateKey,
    now: jiff::Timestamp,
) -> Result<Vec<(String, Vec<u8>)>, OpenError> {
    let exp = s
        .pointer(&format!(
            "/metadata/annotations/{}",
            EXPIRES_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .ok_or_else(|| OpenError::Malformed(format!("no annotation {EXPIRES_ANNOTATION}")))?;
    let at: jiff::Timestamp = exp
        .parse()
        .map_err(|e| OpenError::Malformed(format!("annotation {EXPIRES_ANNOTATION} {exp:?}: {e}")))?;
    if at <= now {
        return Err(OpenError::Expired(exp.to_string()));
    }
    let mut out = Vec::new();
    for (name, _) in SHARED {
        let text = s
            .pointer(&format!("/data/{name}"))
            .and_then(Value::as_str)
            .ok_or_else(|| OpenError::Malformed(format!("no data key {name:?}")))?;
        let sealed = B64
            .decode(text)
            .map_err(|e| OpenError::Malformed(format!("data key {name:?} is not base64: {e}")))?;
        let plain = key
            .open(&sealed)
            .ok_or_else(|| OpenError::WrongKey(name.to_string()))?;
        out.push((name.to_string(), plain));
    }
    Ok(out)
}

/// kubeadm's Role and RoleBinding: bootstrap tokens may get this one Secret.
pub fn reader_rbac() -> [Value; 2] {
    [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": ROLE, "namespace": NAMESPACE},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SECRET_NAME], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": ROLE, "namespace": NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": BOOTSTRAPPERS}]}),
    ]
}

/// The shared files as they sit in the API server's data dir.
pub fn read_shared(data_dir: &Path) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    SHARED
        .iter()
        .map(|(name, file)| {
            let p = data_dir.join(file);
            std::fs::read(&p)
                .with_context(|| format!("reading {}", p.display()))
                .map(|b| (*name, b))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(&'static str, Vec<u8>)> {
        SHARED
            .iter()
            .map(|(n, _)| (*n, format!("content of {n}").into_bytes()))
            .collect()
    }

    fn later() -> jiff::Timestamp {
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)
    }

    #[test]
    fn a_key_is_64_hex_digits_and_prints_back_the_same() {
        let k = CertificateKey::generate().unwrap();
        let hex = k.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex.parse::<CertificateKey>().unwrap(), k);
        assert!(
            format!("{k:?}").find(&hex).is_none(),
            "Debug must not print the key"
        );
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(63), &"0".repeat(66)] {
            let err = bad.parse::<CertificateKey>().unwrap_err();
            assert!(
                err.contains("--certificate-key") && err.contains("64 hex digits"),
                "{err}"
            );
        }
    }

    #[test]
    fn sealing_round_trips_and_another_key_or_a_changed_byte_does_not_open() {
        let k = CertificateKey::generate().unwrap();
        let sealed = k.seal(b"the CA key").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 10 + 16);
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 10], b"the CA key");
        assert_eq!(k.open(&sealed).as_deref(), Some(&b"the CA key"[..]));
        // A fresh nonce each time: the same plaintext seals differently.
        assert_ne!(k.seal(b"the CA key").unwrap(), sealed);
        let other = CertificateKey::generate().unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut changed = sealed.clone();
        changed[NONCE_LEN] ^= 1;
        assert_eq!(k.open(&changed), None);
        assert_eq!(k.open(&sealed[..NONCE_LEN + 3]), None);
    }

    #[test]
    fn the_secret_is_kubeadms_opaque_kubeadm_certs_with_every_shared_file_sealed() {
        let k = CertificateKey::generate().unwrap();
        let s = secret(&k, &files(), later()).unwrap();
        assert_eq!(s["metadata"]["name"], "kubeadm-certs");
        assert_eq!(s["metadata"]["namespace"], "kube-system");
        assert_eq!(s["type"], "Opaque");
        let data = s["data"].as_object().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), SHARED.len());
        for (name, _) in SHARED {
            let sealed = B64.decode(data[name].as_str().unwrap()).unwrap();
            assert!(
                !sealed.windows(10).any(|w| w == b"content of"),
                "{name} is stored in the clear"
            );
        }
        let opened = open_secret(&s, &k, jiff::Timestamp::now()).unwrap();
        let want: Vec<(String, Vec<u8>)> = files().into_iter().map(|(n, b)| (n.to_string(), b)).collect();
        assert_eq!(opened, want);
        let [role, binding] = reader_rbac();
        assert_eq!(role["rules"][0]["resourceNames"][0], "kubeadm-certs");
        assert_eq!(binding["subjects"][0]["name"], "system:bootstrappers");
    }

    #[test]
    fn a_wrong_key_an_expired_or_incomplete_secret_is_refused_naming_why() {
        let k = CertificateKey::generate().unwrap();
        let s = secret(&k, &files(), later()).unwrap();
        let wrong = CertificateKey::generate().unwrap();
        let err = open_secret(&s, &wrong, jiff::Timestamp::now()).unwrap_err();
        assert_eq!(err, OpenError::WrongKey("ca.crt".into()));
        assert!(err
            .to_string()
            .contains("certificate key does not decrypt kube-system/kubeadm-certs"));
        let err = open_secret(&s, &k, later() + jiff::SignedDuration::from_secs(1)).unwrap_err();
        assert!(matches!(err, OpenError::Expired(_)), "{err}");
        assert!(err.to_string().contains("expired"));
        let mut partial = s.clone();
        partial["data"].as_object_mut().unwrap().remove("sa.key");
        let err = open_secret(&partial, &k, jiff::Timestamp::now()).unwrap_err();
        assert_eq!(err, OpenError::Malformed("no data key \"sa.key\"".into()));
    }
}
