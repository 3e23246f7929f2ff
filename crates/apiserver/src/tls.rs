//! The cluster CA and the server certificate. The CA (certificate and key) is
//! made once and kept in the data dir; the serving certificate is issued by it
//! at each start with the SANs clients use (node IP, loopback, the kubernetes
//! Service IP and its DNS names).

use anyhow::Context;
use labyrinth_contracts::files::write_private;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

pub struct Pki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub server_config: Arc<rustls::ServerConfig>,
    /// For connecting to the node agents' streaming servers (exec).
    pub kubelet_client: Arc<rustls::ClientConfig>,
}

/// The common name the node agents accept for streaming (kubeadm's name).
pub const KUBELET_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

/// A client certificate for the API server's connections to node agents,
/// issued by the cluster CA at each start like the serving certificate.
fn kubelet_client(
    pki: &Path,
    issuer: &Issuer<'_, KeyPair>,
    ca_der: &[u8],
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, KUBELET_CLIENT_CN);
    p.distinguished_name
        .push(DnType::OrganizationName, "kubeadm:cluster-admins");
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().context("generating the kubelet client key")?;
    let cert = p
        .signed_by(&key, issuer)
        .context("issuing the kubelet client certificate")?;
    write_private(
        &pki.join("apiserver-kubelet-client.key"),
        key.serialize_pem().as_bytes(),
    )?;
    std::fs::write(pki.join("apiserver-kubelet-client.crt"), cert.pem())
        .context("writing apiserver-kubelet-client.crt")?;
    let chain = vec![cert.der().clone(), CertificateDer::from(ca_der.to_vec())];
    let pk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok(Arc::new(crate::auth::client::kubelet_client_config(chain, pk)?))
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, "kubernetes");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    Ok(p)
}

/// Load or create the CA in `dir` and issue a serving certificate for `sans`
/// (IP addresses and DNS names).
pub fn load_or_create(dir: &Path, ips: &[IpAddr], dns: &[String]) -> anyhow::Result<Pki> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).with_context(|| format!("creating {}", pki.display()))?;
    let (ca_crt, ca_key) = (pki.join("ca.crt"), pki.join("ca.key"));
    let (ca_pem, key) = if ca_crt.exists() && ca_key.exists() {
        let key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key).context("reading ca.key")?)
            .context("parsing ca.key")?;
        (std::fs::read_to_string(&ca_crt).context("reading ca.crt")?, key)
    } else {
        let key = KeyPair::generate().context("generating the CA key")?;
        let cert = ca_params()?.self_signed(&key).context("self-signing the CA")?;
        write_private(&ca_key, key.serialize_pem().as_bytes())?;
        std::fs::write(&ca_crt, cert.pem()).context("writing ca.crt")?;
        (cert.pem(), key)
    };
    let ca_der = pem_to_der(&ca_pem)?;
    let issuer = Issuer::new(ca_params()?, key);

    let mut sp = CertificateParams::new(dns.to_vec())?;
    sp.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    for ip in ips {
        sp.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    sp.not_before = rcgen::date_time_ymd(2025, 1, 1);
    sp.not_after = rcgen::date_time_ymd(2035, 1, 1);
    sp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let skey = KeyPair::generate().context("generating the server key")?;
    let scert = sp
        .signed_by(&skey, &issuer)
        .context("issuing the server certificate")?;
    write_private(&pki.join("apiserver.key"), skey.serialize_pem().as_bytes())?;
    std::fs::write(pki.join("apiserver.crt"), scert.pem()).context("writing apiserver.crt")?;

    let chain = vec![scert.der().clone(), CertificateDer::from(ca_der.clone())];
    let pk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(skey.serialize_der()));
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, pk)
        .context("TLS server config")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let kubelet_client = kubelet_client(&pki, &issuer, &ca_der)?;
    Ok(Pki {
        ca_pem,
        ca_der,
        server_config: Arc::new(cfg),
        kubelet_client,
    })
}

pub fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    Ok(CertificateDer::from_pem_slice(pem.as_bytes())
        .context("parsing a PEM certificate")?
        .to_vec())
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub fn spki_der(cert_der: &[u8]) -> anyhow::Result<&[u8]> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| anyhow::anyhow!("parsing a DER certificate: {e}"))?;
    Ok(cert.tbs_certificate.subject_pki.raw)
}

/// kubeadm's CA pin: "sha256:" + hex sha256 of the CA's DER SubjectPublicKeyInfo.
pub fn ca_cert_hash(cert_der: &[u8]) -> anyhow::Result<String> {
    let spki = spki_der(cert_der)?;
    let d = ring::digest::digest(&ring::digest::SHA256, spki);
    Ok(format!(
        "sha256:{}",
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn spki_is_the_certificates_public_key_info() {
        let key = KeyPair::generate().unwrap();
        let cert = ca_params().unwrap().self_signed(&key).unwrap();
        // rcgen encodes the key's SubjectPublicKeyInfo on its own: the one
        // read back out of the certificate must be byte for byte the same.
        assert_eq!(
            spki_der(cert.der()).unwrap(),
            key.subject_public_key_info().as_slice()
        );
        let hash = ca_cert_hash(cert.der()).unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 7 + 64, "{hash}");
    }

    #[test]
    fn a_broken_certificate_is_an_error() {
        let key = KeyPair::generate().unwrap();
        let der = ca_params().unwrap().self_signed(&key).unwrap().der().to_vec();
        assert!(spki_der(&der[..der.len() / 2]).is_err());
        assert!(spki_der(b"not a certificate").is_err());
        assert!(ca_cert_hash(&[]).is_err());
    }
}
