//! Certificates for TLS tests: a CA, a server certificate for 127.0.0.1 and
//! localhost, and a client certificate, all made in memory and written as PEM files
//! the servers and the binaries read.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// PEM files under one temporary folder, removed on drop.
pub struct TestCertificates {
    dir: TempDir,
}

impl TestCertificates {
    /// A CA (`ca.pem`) that signs `server.pem`/`server-key.pem` and
    /// `client.pem`/`client-key.pem`, plus a second CA (`other-ca.pem`) that signs
    /// nothing here: a client trusting it must refuse the server.
    pub fn generate() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tasklane-certs-")
            .tempdir()
            .expect("temp dir");
        let (ca, issuer) = authority("tasklane test CA");
        write(dir.path(), "ca.pem", &ca.pem());
        let (other, _) = authority("some other CA");
        write(dir.path(), "other-ca.pem", &other.pem());

        let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server names");
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().expect("server key");
        let server = server.signed_by(&server_key, &issuer).expect("server cert");
        write(dir.path(), "server.pem", &server.pem());
        write(dir.path(), "server-key.pem", &server_key.serialize_pem());

        let mut client = CertificateParams::new(vec!["tasklane-client".into()]).expect("name");
        client
            .distinguished_name
            .push(DnType::CommonName, "tasklane-client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("client key");
        let client = client.signed_by(&client_key, &issuer).expect("client cert");
        write(dir.path(), "client.pem", &client.pem());
        write(dir.path(), "client-key.pem", &client_key.serialize_pem());
        Self { dir }
    }

    /// The file `name` (`ca.pem`, `other-ca.pem`, `server.pem`, `server-key.pem`,
    /// `client.pem`, `client-key.pem`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `path(name)` as text, for environment variables.
    pub fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn authority(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA cert");
    (cert, Issuer::new(params, key))
}

fn write(dir: &Path, name: &str, pem: &str) {
    std::fs::write(dir.join(name), pem).expect("write PEM");
}
