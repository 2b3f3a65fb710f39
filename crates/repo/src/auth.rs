//! Credentials for the repo host: an https token (from a file or the
//! environment) or an ssh key (or the agent). They come from the service's
//! config or environment, never from the repo itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a service reaches the resource repo. Credentials come from here or the
/// environment, never from the repo itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl GitAuth {
    pub(crate) fn token(&self) -> Option<String> {
        if let Some(file) = &self.token_file {
            if let Ok(t) = std::fs::read_to_string(file) {
                return Some(t.trim().to_string());
            }
        }
        let var = self.token_env.as_deref().unwrap_or("SLIPWAY_GIT_TOKEN");
        std::env::var(var).ok().filter(|t| !t.is_empty())
    }
}

/// The callbacks of a fetch or push: answers git's credential questions from
/// `auth`, giving up after three tries so a wrong token fails instead of looping.
pub(crate) fn callbacks(auth: &GitAuth) -> git2::RemoteCallbacks<'static> {
    let mut cb = git2::RemoteCallbacks::new();
    let auth = auth.clone();
    let mut tries = 0;
    cb.credentials(move |_url, username_from_url, allowed| {
        tries += 1;
        if tries > 3 {
            return Err(git2::Error::from_str(
                "authentication failed: check the token (SLIPWAY_GIT_TOKEN or token_file) or ssh key",
            ));
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            let user = auth.username.as_deref().or(username_from_url).unwrap_or("git");
            return match &auth.ssh_key {
                Some(key) => git2::Cred::ssh_key(user, None, key, None),
                None => git2::Cred::ssh_key_from_agent(user),
            };
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(token) = auth.token() {
                let user = auth.username.as_deref().unwrap_or("x-access-token");
                return git2::Cred::userpass_plaintext(user, &token);
            }
        }
        git2::Cred::default()
    });
    cb
}
