//! `pods/{name}/log`: the output of a simulated container. Nothing is stored: a
//! running container writes one synthetic line every [`LINE_INTERVAL`] from the
//! time it started, so line `i` is a pure function of (pod, container, i) and
//! any tail, or a follow, is computed on the spot.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::status::ApiError;

/// How often a simulated container writes a line.
pub const LINE_INTERVAL: Duration = Duration::from_millis(250);

/// The query of a log request.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub container: Option<String>,
    /// `tailLines`: only the last N lines.
    pub tail_lines: Option<usize>,
    /// `follow`: keep the stream open and send new lines as they are written.
    pub follow: bool,
    /// `timestamps`: prefix every line with its RFC 3339 time.
    pub timestamps: bool,
    /// `limitBytes`: stop after this many bytes.
    pub limit_bytes: Option<usize>,
    /// `sinceSeconds`: only lines of the last N seconds.
    pub since_seconds: Option<u64>,
}

/// The container whose log is read, and when it started.
#[derive(Clone, Debug)]
pub struct LogSource {
    pub pod: String,
    pub container: String,
    pub image: String,
    pub started: DateTime<Utc>,
}

/// The container a log request reads, or the error a real API server answers.
pub fn source(pod: &Value, container: Option<&str>) -> Result<LogSource, ApiError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let name = match container {
        Some(c) if names.contains(&c) => c,
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {pod_name}"
            )))
        }
        None if names.len() == 1 => names[0],
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                names.join(" ")
            )))
        }
    };
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|s| s.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(name)));
    let started = status
        .and_then(|s| s.pointer("/state/running/startedAt"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(started) = started else {
        let waiting = status
            .and_then(|s| s.pointer("/state/waiting/reason"))
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating");
        let why = match waiting {
            "ImagePullBackOff" | "ErrImagePull" => "trying and failing to pull image",
            other => other,
        };
        return Err(ApiError::bad_request(format!(
            "container \"{name}\" in pod \"{pod_name}\" is waiting to start: {why}"
        )));
    };
    let image = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(name)))
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(LogSource {
        pod: pod_name.to_string(),
        container: name.to_string(),
        image,
        started,
    })
}

impl LogSource {
    /// When line `i` is written.
    pub fn time_of(&self, i: u64) -> DateTime<Utc> {
        self.started + chrono::Duration::from_std(LINE_INTERVAL * i as u32).unwrap_or_default()
    }

    /// How many lines are written by `now`.
    pub fn written_by(&self, now: DateTime<Utc>) -> u64 {
        let elapsed = (now - self.started).to_std().unwrap_or_default();
        (elapsed.as_millis() / LINE_INTERVAL.as_millis()) as u64 + 1
    }

    /// Line `i` (with its newline), as the container wrote it.
    pub fn line(&self, i: u64, timestamps: bool) -> String {
        let at = self.time_of(i);
        let stamp = at.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let text = match i {
            0 => format!("starting {} ({})", self.container, self.image),
            1 => "listening on 0.0.0.0:8080".to_string(),
            _ => {
                let paths = ["/", "/healthz", "/api/items", "/metrics"];
                let path = paths[(i as usize) % paths.len()];
                let micros = 200 + (i * 7919) % 4800;
                format!("GET {path} 200 {}.{:03}ms request={i}", micros / 1000, micros % 1000)
            }
        };
        let app = format!("{stamp} INFO {} {text}", self.pod);
        if timestamps {
            format!("{} {app}\n", at.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
        } else {
            format!("{app}\n")
        }
    }

    /// The index of the first line to send for `opts` at `now`.
    pub fn first_line(&self, opts: &LogOptions, now: DateTime<Utc>) -> u64 {
        let written = self.written_by(now);
        let mut first = 0;
        if let Some(secs) = opts.since_seconds {
            let since = now - chrono::Duration::seconds(secs as i64);
            if since > self.started {
                first = self.written_by(since);
            }
        }
        if let Some(n) = opts.tail_lines {
            first = first.max(written.saturating_sub(n as u64));
        }
        first.min(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(state: Value) -> Value {
        json!({"metadata": {"name": "web-abc-x1"},
               "spec": {"containers": [{"name": "app", "image": "reg/web:1"}]},
               "status": {"containerStatuses": [{"name": "app", "state": state}]}})
    }

    #[test]
    fn tail_starts_n_lines_before_the_last_one_written() {
        let s = source(&pod(json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}})), None).unwrap();
        let now = s.started + chrono::Duration::seconds(10);
        assert_eq!(s.written_by(now), 41);
        let opts = LogOptions {
            tail_lines: Some(3),
            ..Default::default()
        };
        assert_eq!(s.first_line(&opts, now), 38);
        assert_eq!(s.first_line(&LogOptions::default(), now), 0);
        assert!(s.line(0, false).contains("starting app (reg/web:1)"));
        assert!(s
            .line(5, true)
            .starts_with("2026-01-01T00:00:01.250000000Z 2026-01-01T00:00:01.250Z INFO web-abc-x1 "));
    }

    #[test]
    fn a_waiting_container_or_a_wrong_name_is_refused_as_a_real_server_does() {
        let e = source(&pod(json!({"waiting": {"reason": "ImagePullBackOff"}})), None).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "container \"app\" in pod \"web-abc-x1\" is waiting to start: trying and failing to pull image"
        );
        let e = source(
            &pod(json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}})),
            Some("db"),
        )
        .unwrap_err();
        assert_eq!(e.message, "container db is not valid for pod web-abc-x1");
    }
}
