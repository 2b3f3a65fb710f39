//! Certificates for serving https on loopback: a CA made for one server, a
//! certificate for `127.0.0.1` and `localhost` signed by it, and a second CA
//! that signed nothing (to show a client refusing an unknown CA). Made with the
//! `openssl` command of the machine, as the ssh fixture makes its keys with
//! `ssh-keygen`; EC P-256 keys, valid for two days.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The files of one server's certificates, removed when dropped.
pub struct TlsFiles {
    dir: tempfile::TempDir,
}

impl TlsFiles {
    /// Makes the CA, the other CA and the server certificate.
    pub fn make() -> io::Result<Self> {
        let files = TlsFiles {
            dir: tempfile::tempdir()?,
        };
        let d = files.dir.path();
        for ca in ["ca", "other_ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=git_fixture {ca}"),
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                ],
            )?;
        }
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        )?;
        std::fs::write(
            d.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-outform",
                "DER",
                "-out",
                "server.der",
            ],
        )?;
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                "server.key",
                "-outform",
                "DER",
                "-out",
                "server.key.der",
            ],
        )?;
        Ok(files)
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The PEM file of a CA that signed nothing.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.path().join("other_ca.pem")
    }

    /// The server side: the certificate and its key.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let read = |name: &str| std::fs::read(self.dir.path().join(name)).unwrap_or_default();
        let cert = rustls::pki_types::CertificateDer::from(read("server.der"));
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(read("server.key.der").into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert], key))
            // The files were just made by `make`, with the key and certificate types it chose.
            .expect("the fixture's own certificate and key are valid");
        Arc::new(config)
    }
}

fn openssl(dir: &Path, args: &[&str]) -> io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}
