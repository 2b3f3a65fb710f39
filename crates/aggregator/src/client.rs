//! `slipway-aggregator post-version`: what CI runs after pushing an image.
//!
//! Exit codes (also in the README):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | committed (`201`) or already there (`200`, unchanged); the commit id is printed |
//! | 1 | a local problem: changelog file unreadable, no token |
//! | 2 | invalid command line |
//! | 3 | refused by the aggregator (`4xx`: invalid input, token, lock); retrying will not help |
//! | 4 | the aggregator or the resource repo is unavailable (`5xx`, no connection) after every retry |

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

/// Exit code: committed or unchanged.
pub const EXIT_OK: u8 = 0;
/// Exit code: a local problem.
pub const EXIT_LOCAL: u8 = 1;
/// Exit code: invalid command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the aggregator refused the version.
pub const EXIT_REFUSED: u8 = 3;
/// Exit code: the aggregator or the repo is unavailable.
pub const EXIT_UNAVAILABLE: u8 = 4;

/// Arguments of `post-version`.
#[derive(Debug, Clone, clap::Args)]
pub struct PostVersionArgs {
    /// Base URL of the aggregator, e.g. https://slipway.example.com
    #[arg(long)]
    pub url: String,
    /// API token (prefer the SLIPWAY_TOKEN environment variable: command lines are visible to other users)
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Service name, e.g. s1 or team-a/api
    #[arg(long)]
    pub service: String,
    /// Environment to post to (usually latest)
    #[arg(long)]
    pub env: String,
    /// A variable as key=value (a string), or key:=JSON for a number or boolean (replicas:=3); repeat for more
    #[arg(long = "var", value_name = "KEY=VALUE", required = true)]
    pub vars: Vec<String>,
    /// File holding the changelog, '-' for standard input
    #[arg(long, value_name = "PATH")]
    pub changelog_file: Option<PathBuf>,
    /// Post even when a deployed env downstream would miss a variable of the base (the pre-flight's 422)
    #[arg(long)]
    pub force: bool,
    /// Retries when the aggregator is unavailable (posting again is safe: the same vars are a no-op)
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Time limit of each attempt
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Parses `key=value` (string) and `key:=json` (number or boolean) into a vars object.
pub fn parse_vars(items: &[String]) -> Result<Map<String, Value>, String> {
    let mut vars = Map::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--var {item:?}: expected KEY=VALUE or KEY:=JSON"))?;
        let (key, value) = match key.strip_suffix(':') {
            Some(key) => {
                let v: Value = serde_json::from_str(value)
                    .map_err(|e| format!("--var {item:?}: the value after ':=' is not JSON: {e}"))?;
                (key, v)
            }
            None => (key, Value::String(value.to_string())),
        };
        if key.is_empty() {
            return Err(format!("--var {item:?}: the key is empty"));
        }
        if vars.insert(key.to_string(), value).is_some() {
            return Err(format!("--var {key} is given twice"));
        }
    }
    Ok(vars)
}

/// Runs `post-version`; returns the process exit code.
pub async fn post_version(args: PostVersionArgs) -> u8 {
    let vars = match parse_vars(&args.vars) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(token) = args.token.clone().filter(|t| !t.is_empty()) else {
        eprintln!("error: no API token: set SLIPWAY_TOKEN (or pass --token)");
        return EXIT_LOCAL;
    };
    let changelog = match &args.changelog_file {
        None => String::new(),
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                eprintln!("error: cannot read the changelog from standard input: {e}");
                return EXIT_LOCAL;
            }
            text
        }
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read changelog file {}: {e}", path.display());
                return EXIT_LOCAL;
            }
        },
    };
    let mut body = serde_json::json!({
        "service": args.service, "env": args.env, "vars": vars, "changelog": changelog,
    });
    if args.force {
        body["force"] = Value::Bool(true);
    }
    let client = match reqwest::Client::builder().timeout(args.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot set up the HTTP client: {e}");
            return EXIT_LOCAL;
        }
    };
    let url = format!("{}/api/versions", args.url.trim_end_matches('/'));
    let mut attempt = 0;
    loop {
        let outcome = client.post(&url).bearer_auth(&token).json(&body).send().await;
        let problem = match outcome {
            Ok(response) => {
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    let commit = answer["commit"].as_str().unwrap_or_default();
                    if answer["unchanged"] == Value::Bool(true) {
                        eprintln!(
                            "{} already has these vars in {} (commit {commit})",
                            args.service, args.env
                        );
                    } else {
                        eprintln!("posted {} to {} (commit {commit})", args.service, args.env);
                    }
                    println!("{commit}");
                    return EXIT_OK;
                }
                let message = answer["error"].as_str().unwrap_or("(no error message)").to_string();
                if status.is_client_error() {
                    eprintln!("error: the aggregator refused the version ({status}): {message}");
                    return EXIT_REFUSED;
                }
                format!("{status}: {message}")
            }
            Err(e) => format!("{e}"),
        };
        if attempt >= args.retries {
            eprintln!(
                "error: the aggregator at {url} is unavailable ({problem}); gave up after {} attempts",
                attempt + 1
            );
            return EXIT_UNAVAILABLE;
        }
        let wait = Duration::from_secs(1 << attempt.min(5));
        eprintln!(
            "the aggregator is unavailable ({problem}); trying again in {}s",
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_are_strings_unless_given_as_json() {
        let v = parse_vars(&["version=42".into(), "replicas:=3".into(), "url=a=b".into()]).unwrap();
        assert_eq!(v["version"], Value::String("42".into()));
        assert_eq!(v["replicas"], Value::from(3));
        assert_eq!(v["url"], Value::String("a=b".into()));
        assert!(parse_vars(&["novalue".into()]).is_err());
        assert!(parse_vars(&["a=1".into(), "a=2".into()]).is_err());
        assert!(parse_vars(&["n:=nope".into()]).is_err());
    }
}
