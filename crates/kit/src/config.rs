//! Reading a service's YAML config file. The services embed the repo keys
//! (`slipway_repo::RepoSettings`) with `#[serde(flatten)]`, which serde's
//! `deny_unknown_fields` does not support; unknown keys are found here instead,
//! so a typo is still refused rather than silently ignored.
//!
//! How: the parsed config is written back as YAML, and every top-level key of
//! the file must appear in it. Tracking the keys serde ignores while reading
//! (as `serde_ignored` does) cannot work here: a flattened struct drops the keys
//! it does not know inside serde, where no wrapper sees them. Nested sections
//! (`git`, `clusters`) deny unknown fields themselves.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {origin}: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed, a key has a wrong value, or a required key is missing.
    #[error("invalid config file {origin}{at}: {message}")]
    Invalid {
        origin: String,
        at: String,
        message: String,
    },
    /// Keys no part of the config knows (most often a typo).
    #[error("invalid config file {origin}{at}: unknown key{} {}: see the service's README for its keys", plural(.keys), .keys.join(", "))]
    UnknownKeys {
        origin: String,
        /// `:LINE` of the first unknown key, when it is found in the text.
        at: String,
        keys: Vec<String>,
    },
}

fn plural(keys: &[String]) -> &'static str {
    if keys.len() == 1 {
        ""
    } else {
        "s"
    }
}

/// Reads a YAML config file into `T`, refusing keys `T` does not know.
pub fn load_config<T: DeserializeOwned + Serialize>(path: &Path) -> Result<T, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        origin: origin.clone(),
        source,
    })?;
    parse_config(&text, &origin)
}

/// Parses config text into `T`, refusing keys `T` does not know; `origin` names
/// the text (its file) in errors.
pub fn parse_config<T: DeserializeOwned + Serialize>(text: &str, origin: &str) -> Result<T, ConfigError> {
    let invalid = |e: serde_yaml::Error| ConfigError::Invalid {
        origin: origin.to_string(),
        at: e.location().map(|l| format!(":{}", l.line())).unwrap_or_default(),
        message: e.to_string(),
    };
    let given: serde_yaml::Value = serde_yaml::from_str(text).map_err(invalid)?;
    let config: T = serde_yaml::from_value(given.clone()).map_err(invalid)?;
    let known = serde_yaml::to_value(&config).map_err(invalid)?;
    let unknown: Vec<String> = top_level_keys(&given)
        .filter(|key| !top_level_keys(&known).any(|k| k == *key))
        .map(str::to_string)
        .collect();
    if unknown.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::UnknownKeys {
            origin: origin.to_string(),
            at: line_of(text, &unknown[0]).map(|l| format!(":{l}")).unwrap_or_default(),
            keys: unknown,
        })
    }
}

/// The 1-based line where the top-level `key` is written (unindented, plain or quoted).
fn line_of(text: &str, key: &str) -> Option<usize> {
    let written = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")];
    text.lines()
        .position(|line| written.iter().any(|w| line.starts_with(w.as_str())))
        .map(|i| i + 1)
}

fn top_level_keys(value: &serde_yaml::Value) -> impl Iterator<Item = &str> {
    value
        .as_mapping()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(serde_yaml::Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Inner {
        a: String,
    }

    #[derive(Debug, Deserialize, Serialize)]
    struct Outer {
        #[serde(flatten)]
        inner: Inner,
        #[serde(default)]
        b: u32,
    }

    #[test]
    fn flattened_keys_are_read_and_an_unknown_key_is_named_with_the_file() {
        let ok: Outer = parse_config("a: x\nb: 3\n", "svc.yaml").unwrap();
        assert_eq!((ok.inner.a.as_str(), ok.b), ("x", 3));
        let err = parse_config::<Outer>("a: x\nbb: 3\n", "svc.yaml").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKeys { keys, .. } if keys == &["bb"]),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "invalid config file svc.yaml:2: unknown key bb: see the service's README for its keys"
        );
    }

    #[test]
    fn a_missing_key_is_invalid_not_unknown() {
        let err = parse_config::<Outer>("b: 3\n", "svc.yaml").unwrap_err();
        assert!(err.to_string().contains("missing field `a`"), "{err}");
    }
}
