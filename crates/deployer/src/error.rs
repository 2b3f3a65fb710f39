//! What a failed request to a cluster says, and Slipway's decisions on it
//! (retry or not, not found, forbidden). Pure: the requests are made in
//! [`crate::cluster`].

use thiserror::Error;

/// A failed request to a cluster, after retries.
#[derive(Debug, Clone, Error)]
pub enum ClusterError {
    /// The API server answered with an error `Status`.
    #[error("{code} {reason}: {message}")]
    Api { code: u16, reason: String, message: String },
    /// No answer: connection refused, timeout, TLS.
    #[error("cluster unreachable: {0}")]
    Transport(String),
    /// Anything else (bad response, bad kubeconfig).
    #[error("{0}")]
    Other(String),
}

impl ClusterError {
    /// Worth retrying: timeouts, unreachable servers, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Api { code, .. } => *code == 429 || *code >= 500,
            ClusterError::Transport(_) => true,
            ClusterError::Other(_) => false,
        }
    }

    /// Whether the server said the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Api { code: 404, .. })
    }

    /// Whether the server refused the deployer's identity (RBAC).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Api { code: 403, .. })
    }
}
