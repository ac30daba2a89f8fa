//! A test CA and a server certificate it issued for 127.0.0.1, as PEM files: `ca.pem`,
//! `server.pem`, `server.key`. Used by the secured Redis of `redis.rs` and by the examples'
//! `signal` test (`wss://`).

use std::path::Path;

/// Writes the three files into `dir`.
pub(crate) fn write_pki(dir: &Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "syncshell test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    write("ca.pem", ca.pem());
    write("server.pem", cert.pem());
    write("server.key", key.serialize_pem());
}
