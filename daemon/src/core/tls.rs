//! TLS for the front ends that serve it (the REST API with the console,
//! and the gRPC stream): a certificate chain and its key, read from PEM
//! files once at start, as rustls (with the ring provider) takes them.

use crate::config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The PEM files, read and checked to make a server configuration.
pub struct Identity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl Identity {
    /// Reads both files; an unreadable file, a file with no certificate or
    /// key, or a key that is not the certificate's fails, naming them.
    pub fn load(files: &TlsFiles) -> Result<Identity, String> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let identity = Identity {
            cert_pem: read(&files.cert)?,
            key_pem: read(&files.key)?,
        };
        identity
            .server_config(&[])
            .map_err(|e| format!("{} and {}: {e}", files.cert.display(), files.key.display()))?;
        Ok(identity)
    }

    /// A rustls server configuration offering `protocols` by ALPN
    /// (`http/1.1`, `h2`).
    pub fn server_config(&self, protocols: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, String> {
        let chain = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
        if chain.is_empty() {
            return Err("the certificate file holds no certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| format!("the key file holds no private key: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the key does not fit the certificate: {e}"))?;
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, cert: &str, key: &str) -> TlsFiles {
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        TlsFiles {
            cert: cert_path,
            key: key_path,
        }
    }

    #[test]
    fn files_without_a_certificate_or_a_key_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Identity::load(&files(dir.path(), "", "")).err().unwrap();
        assert!(empty.contains("no certificate"), "{empty}");
        assert!(empty.contains("cert.pem"), "{empty}");
        let missing = TlsFiles {
            cert: dir.path().join("absent.pem"),
            key: dir.path().join("key.pem"),
        };
        let error = Identity::load(&missing).err().unwrap();
        assert!(error.contains("absent.pem"), "{error}");
    }
}
