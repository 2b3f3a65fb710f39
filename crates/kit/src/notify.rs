//! Notifications: events a service tells people about (a promotion, a failed
//! deploy, a lock), delivered to the targets in the service's config.
//!
//! ```text
//!  service ─▶ Notifier::send(event) ─▶ per target: wants it? ─▶ bounded queue ─▶ worker: POST, retried with backoff
//!             (never waits)                                       └ full: dropped, counted
//! ```
//!
//! A target is a `webhook` (the event as JSON, optionally signed with
//! HMAC-SHA256 in `X-Slipway-Signature-256`) or a `slack` incoming webhook
//! (`{"text": ...}`). Sending never blocks the caller: a dead or slow target
//! only fills its own queue.

use std::path::PathBuf;
use std::time::Duration;

use backon::Retryable as _;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Events a target may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The transitioner committed a promotion.
    Promoted,
    /// A transition that has something to promote is blocked (or its check failed).
    PromotionBlocked,
    /// The deployer reports an env (or a service in it) `Failed`.
    DeployFailed,
    /// An env that was `Failed` is `Clean` again.
    DeployRecovered,
    /// An env or service lock was placed or released.
    LockChanged,
    /// A promotion waits for a person's approval.
    ApprovalRequested,
    /// A promotion was run outside its deployment windows on request.
    WindowOverride,
    /// A service was rolled back to an earlier version.
    RolledBack,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Promoted => "promoted",
            EventKind::PromotionBlocked => "promotion_blocked",
            EventKind::DeployFailed => "deploy_failed",
            EventKind::DeployRecovered => "deploy_recovered",
            EventKind::LockChanged => "lock_changed",
            EventKind::ApprovalRequested => "approval_requested",
            EventKind::WindowOverride => "window_override",
            EventKind::RolledBack => "rolled_back",
        }
    }
}

/// One notification: its kind, a one-line summary for people, and the details
/// as JSON fields (documented per kind in the kit README).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// E.g. `Promoted dev → pp: web 1.2.0 → 1.3.0`.
    pub summary: String,
    /// The details: `env`, `service`, `transition`, `commit`, `reason`, ... by kind.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    pub fn new(kind: EventKind, summary: impl Into<String>) -> Self {
        Event {
            kind,
            summary: summary.into(),
            details: serde_json::Map::new(),
        }
    }

    /// Adds a detail field.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    /// The JSON body a `webhook` target gets.
    pub fn webhook_body(&self, source: &str, at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("event".into(), self.kind.name().into());
        body.insert("summary".into(), self.summary.clone().into());
        body.insert("source".into(), source.into());
        body.insert(
            "at".into(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
        for (k, v) in &self.details {
            body.entry(k.clone()).or_insert(v.clone());
        }
        serde_json::Value::Object(body)
    }

    /// The body a `slack` incoming webhook gets.
    pub fn slack_body(&self, source: &str) -> serde_json::Value {
        serde_json::json!({"text": format!("[{source}] {}", self.summary)})
    }
}

/// How a target wants its notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Webhook,
    Slack,
}

/// One entry of `notifications:` in a service's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub kind: TargetKind,
    /// Where to POST.
    pub url: String,
    /// The events it gets (default: all).
    #[serde(default)]
    pub events: Option<Vec<EventKind>>,
    /// `webhook` only: file holding the HMAC secret that signs the body.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `webhook` only: environment variable holding that secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Name in logs and metrics (default: the URL's host).
    #[serde(default)]
    pub name: Option<String>,
}

/// Events waiting per target, at most; more are dropped (and counted).
pub const QUEUE_LEN: usize = 256;
/// Attempts per notification before it is given up (and counted).
pub const ATTEMPTS: usize = 6;
/// Time limit of each delivery attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics of delivery, by target.
#[derive(Clone, Default)]
pub struct NotifyMetrics {
    pub delivered: Family<Vec<(String, String)>, Counter>,
    pub failed: Family<Vec<(String, String)>, Counter>,
    pub dropped: Family<Vec<(String, String)>, Counter>,
}

impl NotifyMetrics {
    /// Registers the counters (`notifications_delivered`, `_failed`, `_dropped`, by `target`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "notifications_delivered",
            "Notifications delivered, by target",
            self.delivered.clone(),
        );
        registry.register(
            "notifications_failed",
            "Notifications given up after every retry, by target",
            self.failed.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Notifications dropped because the target's queue was full, by target",
            self.dropped.clone(),
        );
    }
}

struct Target {
    name: String,
    events: Option<Vec<EventKind>>,
    queue: mpsc::Sender<Event>,
}

/// Sends events to the configured targets; cheap to clone.
#[derive(Clone, Default)]
pub struct Notifier {
    targets: std::sync::Arc<Vec<Target>>,
    metrics: NotifyMetrics,
}

impl Notifier {
    /// Starts one delivery worker per target (on the current tokio runtime).
    /// `source` names the sending service in every body. A secret that cannot
    /// be read is a config error.
    pub fn start(source: &str, targets: &[TargetConfig], metrics: NotifyMetrics) -> Result<Self, String> {
        Self::start_with_backoff(
            source,
            targets,
            metrics,
            Duration::from_millis(500),
            Duration::from_secs(60),
        )
    }

    /// Like [`Notifier::start`] with the first and the longest wait between attempts.
    pub fn start_with_backoff(
        source: &str,
        targets: &[TargetConfig],
        metrics: NotifyMetrics,
        first_wait: Duration,
        max_wait: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the notification client: {e}"))?;
        let mut started = Vec::new();
        for (i, config) in targets.iter().enumerate() {
            let name = config.name.clone().unwrap_or_else(|| {
                reqwest::Url::parse(&config.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| format!("target {}", i + 1))
            });
            if reqwest::Url::parse(&config.url).is_err() {
                return Err(format!("notifications[{i}].url {:?} is not a URL", config.url));
            }
            let secret = match (&config.secret_file, &config.secret_env) {
                (Some(file), _) => Some(
                    std::fs::read_to_string(file)
                        .map_err(|e| format!("notifications[{i}].secret_file {}: {e}", file.display()))?
                        .trim()
                        .to_string(),
                ),
                (None, Some(var)) => {
                    Some(std::env::var(var).map_err(|_| format!("notifications[{i}].secret_env: {var} is not set"))?)
                }
                (None, None) => None,
            };
            let (queue, events) = mpsc::channel(QUEUE_LEN);
            let worker = Worker {
                name: name.clone(),
                kind: config.kind,
                url: config.url.clone(),
                secret,
                source: source.to_string(),
                http: http.clone(),
                metrics: metrics.clone(),
                first_wait,
                max_wait,
            };
            tokio::spawn(worker.run(events));
            started.push(Target {
                name,
                events: config.events.clone(),
                queue,
            });
        }
        Ok(Notifier {
            targets: std::sync::Arc::new(started),
            metrics,
        })
    }

    /// Queues `event` for every target that wants it; never waits.
    pub fn send(&self, event: Event) {
        for target in self.targets.iter() {
            if target.events.as_ref().is_some_and(|e| !e.contains(&event.kind)) {
                continue;
            }
            if target.queue.try_send(event.clone()).is_err() {
                tracing::warn!(target = %target.name, event = event.kind.name(), "notification dropped: the target's queue is full");
                self.metrics.dropped.get_or_create(&label(&target.name)).inc();
            }
        }
    }
}

fn label(target: &str) -> Vec<(String, String)> {
    vec![("target".to_string(), target.to_string())]
}

struct Worker {
    name: String,
    kind: TargetKind,
    url: String,
    secret: Option<String>,
    source: String,
    http: reqwest::Client,
    metrics: NotifyMetrics,
    first_wait: Duration,
    max_wait: Duration,
}

impl Worker {
    async fn run(self, mut events: mpsc::Receiver<Event>) {
        while let Some(event) = events.recv().await {
            let body = match self.kind {
                TargetKind::Webhook => event.webhook_body(&self.source, chrono::Utc::now()),
                TargetKind::Slack => event.slack_body(&self.source),
            };
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let attempt = || async { self.deliver(&bytes).await };
            let backoff = backon::ExponentialBuilder::default()
                .with_min_delay(self.first_wait)
                .with_max_delay(self.max_wait)
                .with_max_times(ATTEMPTS - 1)
                .with_jitter();
            match attempt.retry(backoff).await {
                Ok(()) => {
                    self.metrics.delivered.get_or_create(&label(&self.name)).inc();
                }
                Err(e) => {
                    tracing::warn!(target = %self.name, event = event.kind.name(), "notification not delivered after {ATTEMPTS} attempts: {e}");
                    self.metrics.failed.get_or_create(&label(&self.name)).inc();
                }
            }
        }
    }

    async fn deliver(&self, body: &[u8]) -> Result<(), String> {
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(secret) = &self.secret {
            request = request.header("x-slipway-signature-256", format!("sha256={}", sign(body, secret)));
        }
        let response = request.send().await.map_err(|e| format!("{}: {e}", self.url))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {}", self.url, response.status()))
        }
    }
}

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(body: &[u8], secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_body_has_the_event_summary_source_time_and_details() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let event = Event::new(EventKind::Promoted, "Promoted dev → pp: web 1 → 2")
            .with("transition", "pp")
            .with("commit", "abc");
        assert_eq!(
            event.webhook_body("slipway-transitioner", at),
            serde_json::json!({"event": "promoted", "summary": "Promoted dev → pp: web 1 → 2", "source": "slipway-transitioner",
                               "at": "2026-01-02T03:04:05Z", "transition": "pp", "commit": "abc"})
        );
        assert_eq!(
            event.slack_body("slipway-transitioner"),
            serde_json::json!({"text": "[slipway-transitioner] Promoted dev → pp: web 1 → 2"})
        );
    }

    #[test]
    fn targets_name_events_in_snake_case_and_refuse_unknown_keys() {
        let t: TargetConfig = serde_yaml::from_str(
            "kind: slack\nurl: https://hooks.slack.com/x\nevents: [promoted, deploy_failed, window_override]\n",
        )
        .unwrap();
        assert_eq!(
            t.events.unwrap(),
            vec![EventKind::Promoted, EventKind::DeployFailed, EventKind::WindowOverride]
        );
        assert!(serde_yaml::from_str::<TargetConfig>("kind: webhook\nurl: x\nsecret: y\n").is_err());
        assert!(serde_yaml::from_str::<TargetConfig>("kind: email\nurl: x\n").is_err());
    }
}
