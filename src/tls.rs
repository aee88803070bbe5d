//! TLS on the listener (`[server.tls]`): the certificate chain and key are read
//! from PEM files at start and again on SIGHUP, so a renewed certificate is served
//! without a restart. A reload that fails keeps the certificate being served.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain from {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("cannot read the private key from {path}: {message}")]
    Key { path: String, message: String },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Server(#[from] rustls::Error),
}

/// The TLS side of the listener: what new connections are handshaken with.
pub struct ServerTls {
    files: TlsConfig,
    current: RwLock<TlsAcceptor>,
}

impl ServerTls {
    /// Reads the files named by `files`.
    pub fn load(files: &TlsConfig) -> Result<Self, TlsError> {
        Ok(Self {
            current: RwLock::new(acceptor(files)?),
            files: files.clone(),
        })
    }

    /// Reads the files again; on error the certificate being served stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = acceptor(&self.files)?;
        // A poisoned lock only means a reader panicked while cloning: the value
        // is whole, so take it over.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Checks that the files make a TLS server (for `sluice check`).
pub fn check(files: &TlsConfig) -> Result<(), TlsError> {
    acceptor(files).map(|_| ())
}

fn acceptor(files: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(&files.cert_file)?;
    let key = private_key(&files.key_file)?;
    // The provider is named rather than taken from the process default, which
    // is ambiguous when another crate enables a second one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |message: String| TlsError::Certificate {
        path: path.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if chain.is_empty() {
        return Err(error("no CERTIFICATE block in the file".into()));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
