//! Credentials for the repo host: an https token (from a file or the
//! environment) or an ssh key (or the agent), and the check of an ssh host's
//! key against a `known_hosts` file. They come from the service's config or
//! environment, never from the repo itself.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::known_hosts;

/// How a service reaches the resource repo. Credentials come from here or the
/// environment, never from the repo itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuth {
    /// User name for https (default `x-access-token`) or ssh (default from the URL, else `git`).
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding an https token (default `SLIPWAY_GIT_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding an https token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Private key for ssh URLs (default: the ssh agent).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// OpenSSH `known_hosts` file that ssh host keys are checked against
    /// (default `$HOME/.ssh/known_hosts`).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Whether an ssh host's key must be in `known_hosts` (default `true`).
    #[serde(default = "yes")]
    pub host_key_check: bool,
    /// PEM file of CA certificates an https host's certificate is checked
    /// against, besides the system's (for a host with a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl Default for GitAuth {
    fn default() -> Self {
        GitAuth {
            username: None,
            token_env: None,
            token_file: None,
            ssh_key: None,
            known_hosts: None,
            host_key_check: true,
            ca_file: None,
        }
    }
}

impl GitAuth {
    pub(crate) fn token(&self) -> Option<String> {
        if let Some(file) = &self.token_file {
            match std::fs::read_to_string(file) {
                Ok(t) => return Some(t.trim().to_string()),
                Err(e) => tracing::warn!(path = %file.display(), "cannot read the git token_file: {e}"),
            }
        }
        let var = self.token_env.as_deref().unwrap_or("SLIPWAY_GIT_TOKEN");
        std::env::var(var).ok().filter(|t| !t.is_empty())
    }

    /// The known_hosts file ssh host keys are checked against.
    pub fn known_hosts_path(&self) -> PathBuf {
        self.known_hosts.clone().unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/".into());
            home.join(".ssh").join("known_hosts")
        })
    }

    /// Where the token comes from, for error messages.
    fn token_source(&self) -> String {
        match &self.token_file {
            Some(file) => format!("token_file {}", file.display()),
            None => format!("${}", self.token_env.as_deref().unwrap_or("SLIPWAY_GIT_TOKEN")),
        }
    }
}

/// What the callbacks of one fetch or push saw that git itself reports only
/// vaguely: why a host key or the credentials were refused.
#[derive(Debug, Default, Clone)]
pub(crate) struct Refusals(Arc<Mutex<Option<String>>>);

impl Refusals {
    fn set(&self, why: String) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(why);
        }
    }

    /// The first refusal, if any.
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().ok()?.take()
    }
}

/// Host and port of an ssh URL (`ssh://[user@]host[:port]/path` or scp-like
/// `user@host:path`); `None` for other transports.
pub(crate) fn ssh_endpoint(url: &str) -> Option<(String, u16)> {
    let authority = if let Some(rest) = url.strip_prefix("ssh://").or_else(|| url.strip_prefix("git+ssh://")) {
        let authority = rest.split('/').next()?;
        authority.rsplit_once('@').map_or(authority, |(_, h)| h)
    } else if !url.contains("://") && url.contains('@') && url.contains(':') {
        let host = url.split(':').next()?;
        return Some((host.rsplit_once('@').map_or(host, |(_, h)| h).to_string(), 22));
    } else {
        return None;
    };
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        let port = rest.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(22);
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), 22)),
    }
}

/// The callbacks of a fetch or push of `url`: answers git's credential
/// questions from `auth`, giving up after three tries so a wrong token fails
/// instead of looping, and checks an ssh host's key against `known_hosts`.
/// What they refused is kept in the returned [`Refusals`].
pub(crate) fn callbacks(auth: &GitAuth, url: &str) -> (git2::RemoteCallbacks<'static>, Refusals) {
    let mut cb = git2::RemoteCallbacks::new();
    let refusals = Refusals::default();
    let creds = auth.clone();
    let refused = refusals.clone();
    let (mut key_tries, mut token_tries) = (0, 0);
    cb.credentials(move |_url, username_from_url, allowed| {
        let user = creds.username.as_deref().or(username_from_url).unwrap_or("git");
        if allowed == git2::CredentialType::USERNAME {
            return git2::Cred::username(user);
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            key_tries += 1;
            let key = match &creds.ssh_key {
                Some(key) => format!("the key {}", key.display()),
                None => "the keys of the ssh agent".to_string(),
            };
            if key_tries > 1 {
                let why = format!(
                    "ssh authentication as {user} with {key} was refused: check that its public key is authorized on the host (git.ssh_key)"
                );
                refused.set(why.clone());
                return Err(git2::Error::from_str(&why));
            }
            return match &creds.ssh_key {
                Some(key) => git2::Cred::ssh_key(user, None, key, None),
                None => git2::Cred::ssh_key_from_agent(user),
            };
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            token_tries += 1;
            let source = creds.token_source();
            if token_tries > 3 {
                let why = format!("authentication failed: the host refused the token from {source}; check it and its access to the repo");
                refused.set(why.clone());
                return Err(git2::Error::from_str(&why));
            }
            if let Some(token) = creds.token() {
                let user = creds.username.as_deref().unwrap_or("x-access-token");
                return git2::Cred::userpass_plaintext(user, &token);
            }
            let why = format!("the host asks for credentials and there is no token: set {source} (git.token_file or git.token_env)");
            refused.set(why.clone());
            return Err(git2::Error::from_str(&why));
        }
        git2::Cred::default()
    });
    if let Some((host, port)) = ssh_endpoint(url) {
        let check = auth.host_key_check;
        let known_hosts = auth.known_hosts_path();
        let refused = refusals.clone();
        cb.certificate_check(move |cert, _host| {
            let Some(key) = cert.as_hostkey().and_then(|k| k.hostkey()) else {
                return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
            };
            if !check {
                return Ok(git2::CertificateCheckStatus::CertificateOk);
            }
            match known_hosts::verify(&known_hosts, &host, port, key) {
                Ok(()) => Ok(git2::CertificateCheckStatus::CertificateOk),
                Err(why) => {
                    refused.set(why.clone());
                    Err(git2::Error::new(
                        git2::ErrorCode::Certificate,
                        git2::ErrorClass::Ssh,
                        why,
                    ))
                }
            }
        });
    }
    (cb, refusals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_endpoints_of_url_forms() {
        assert_eq!(
            ssh_endpoint("ssh://git@h.example:2222/r.git"),
            Some(("h.example".into(), 2222))
        );
        assert_eq!(ssh_endpoint("ssh://h.example/r.git"), Some(("h.example".into(), 22)));
        assert_eq!(ssh_endpoint("ssh://git@[::1]:2222/r.git"), Some(("::1".into(), 2222)));
        assert_eq!(
            ssh_endpoint("git@github.com:ops/r.git"),
            Some(("github.com".into(), 22))
        );
        assert_eq!(ssh_endpoint("https://github.com/ops/r.git"), None);
        assert_eq!(ssh_endpoint("/srv/git/r.git"), None);
    }

    #[test]
    fn host_keys_are_checked_unless_turned_off() {
        let auth: GitAuth = serde_json::from_str("{}").unwrap();
        assert!(auth.host_key_check);
        assert_eq!(auth, GitAuth::default());
    }
}
