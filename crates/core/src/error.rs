//! Errors that point at a file (and line) of the resource repo.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A problem in one file of the resource repo, with the line where one is known.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FileError {
    /// Path of the file inside the repo, e.g. `dev/base/s1.yaml`.
    pub path: String,
    /// 1-based line, when the parser or the check knows it.
    pub line: Option<usize>,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl FileError {
    /// An error at a known line (or none).
    pub fn new(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        FileError {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// Wraps a YAML parse error, keeping its line.
    pub fn yaml(path: impl Into<String>, err: &serde_yaml::Error) -> Self {
        let line = err.location().map(|l| l.line());
        // serde_yaml appends " at line N column M"; the line is carried separately.
        let text = err.to_string();
        let message = match text.find(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        FileError::new(path, line, format!("invalid YAML: {message}"))
    }
}
