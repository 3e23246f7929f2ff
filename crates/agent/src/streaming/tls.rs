//! TLS of the streaming server, as a kubelet's port 10250: a self-signed
//! serving certificate made once and kept on the node (the kubelet's default;
//! the API server does not verify it), and client certificates required and
//! verified against the cluster CA the agent already trusts for the API
//! server. Only the API server's kubelet-client identity may stream.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use labyrinth_contracts::files::write_private;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

/// The common name of the API server's client certificate (kubeadm's name).
pub const APISERVER_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

/// Load `<dir>/kubelet.crt` and `.key`, or self-sign a pair for the node's
/// address and name and keep it there.
pub fn serving_cert(
    dir: &Path,
    ip: IpAddr,
    hostname: &str,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let (crt, key) = (dir.join("kubelet.crt"), dir.join("kubelet.key"));
    if crt.exists() && key.exists() {
        let c = CertificateDer::from_pem_file(&crt).with_context(|| format!("reading {}", crt.display()))?;
        let k = PrivateKeyDer::from_pem_file(&key).with_context(|| format!("reading {}", key.display()))?;
        return Ok((c, k));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut p = CertificateParams::new(vec![hostname.to_string()])?;
    p.subject_alt_names.push(SanType::IpAddress(ip));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    p.distinguished_name
        .push(DnType::CommonName, format!("{hostname}@{now}"));
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let kp = KeyPair::generate().context("generating the serving key")?;
    let cert = p
        .self_signed(&kp)
        .context("self-signing the serving certificate")?;
    // A key left without its certificate is replaced.
    write_private(&key, kp.serialize_pem().as_bytes())?;
    std::fs::write(&crt, cert.pem()).with_context(|| format!("writing {}", crt.display()))?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(kp.serialize_der())),
    ))
}

/// Server config: our certificate, client certificates required and chained
/// to one of `client_cas` (DER).
pub fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    client_cas: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in client_cas {
        roots
            .add(CertificateDer::from(der.clone()))
            .context("adding the cluster CA to the client trust store")?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no cluster CA to verify the API server's client certificate with"
    );
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("client certificate verifier")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .context("TLS server config")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The subject common name of a (verified) peer certificate.
pub fn common_name(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_cert_is_kept_and_named() {
        let dir = std::env::temp_dir().join(format!("lby-streaming-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (c1, _) = serving_cert(&dir, "10.168.0.3".parse().unwrap(), "node-1").unwrap();
        let (c2, _) = serving_cert(&dir, "10.168.0.3".parse().unwrap(), "node-1").unwrap();
        assert_eq!(c1, c2, "the certificate is made once");
        let cn = common_name(&c1).unwrap();
        assert!(cn.starts_with("node-1@"), "{cn}");
        let mode = std::fs::metadata(dir.join("kubelet.key")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_to_start_without_a_ca() {
        let dir = std::env::temp_dir().join(format!("lby-streaming-noca-{}", std::process::id()));
        let (c, k) = serving_cert(&dir, "10.168.0.3".parse().unwrap(), "node-1").unwrap();
        let err = server_config(c, k, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("no cluster CA"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
