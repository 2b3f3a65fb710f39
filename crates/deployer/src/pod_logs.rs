//! A pod's log through the deployer's own cluster access
//! (`GET /envs/{env}/services/{service}/logs?pod=&container=&tail=&follow=`), as
//! Server-Sent Events: one `line` event per log line, then one `end` event
//! saying why the stream ended. Every stream is bounded: at most [`MAX_TAIL`]
//! lines from before, [`MAX_BYTES`] in all, and [`MAX_FOLLOW`] of following;
//! it stops when the client goes away, and the open streams are counted in
//! `slipway_deployer_log_streams`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use futures::{AsyncBufReadExt as _, Stream, StreamExt as _};
use kube::api::LogParams;
use prometheus_client::metrics::gauge::Gauge;
use slipway_core::live::LiveView;

use crate::deployer::Deployer;
use crate::inspect::InspectError;

/// Lines from before the request when `tail` is not given.
pub const DEFAULT_TAIL: u64 = 100;
/// The most lines from before the request a stream sends.
pub const MAX_TAIL: u64 = 10_000;
/// The most bytes of log a stream sends.
pub const MAX_BYTES: usize = 4 << 20;
/// How long a followed stream stays open (the browser reconnects for more).
pub const MAX_FOLLOW: Duration = Duration::from_secs(30 * 60);

/// What a log request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// The pod (`None`: the first pod of the unit).
    pub pod: Option<String>,
    pub container: Option<String>,
    /// Lines from before the request.
    pub tail: u64,
    /// Keep the stream open and send new lines as they are written.
    pub follow: bool,
}

impl LogRequest {
    /// From the query parameters; a bad value is a `400` naming it.
    pub fn parse(query: &BTreeMap<String, String>) -> Result<LogRequest, InspectError> {
        for key in query.keys() {
            if !matches!(key.as_str(), "pod" | "container" | "tail" | "follow") {
                return Err(InspectError::BadRequest(format!(
                    "unknown query parameter {key:?} (known: pod, container, tail, follow)"
                )));
            }
        }
        let tail = match query.get("tail") {
            None => DEFAULT_TAIL,
            Some(t) => t
                .parse::<u64>()
                .map_err(|_| InspectError::BadRequest(format!("tail must be a number of lines, got {t:?}")))?,
        };
        if tail > MAX_TAIL {
            return Err(InspectError::BadRequest(format!(
                "tail is at most {MAX_TAIL} lines, got {tail}"
            )));
        }
        let follow = match query.get("follow").map(String::as_str) {
            None | Some("false" | "0" | "") => false,
            Some("true" | "1") => true,
            Some(other) => {
                return Err(InspectError::BadRequest(format!(
                    "follow must be true or false, got {other:?}"
                )))
            }
        };
        let non_empty = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(LogRequest {
            pod: non_empty("pod"),
            container: non_empty("container"),
            tail,
            follow,
        })
    }
}

/// The pods of a live view, in tree order.
pub fn pods_of(view: &LiveView) -> Vec<&slipway_core::live::PodView> {
    view.objects
        .iter()
        .flat_map(|o| o.pods.iter().chain(o.children.iter().flat_map(|c| c.pods.iter())))
        .collect()
}

/// What a log stream sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// One line of the log, without its newline.
    Line(String),
    /// The stream ends, and why.
    End(String),
}

/// Counts a stream as open while it lives (so a client going away, which drops
/// the stream, counts it closed).
struct OpenStream(Gauge);

impl OpenStream {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        OpenStream(gauge.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A boxed stream of log items.
pub type LogStream = Pin<Box<dyn Stream<Item = LogItem> + Send>>;

impl Deployer {
    /// The log of a pod of a unit in an env: checks that the pod is the unit's,
    /// then streams its lines, bounded as the module says.
    pub async fn pod_log(&self, env: &str, unit: &str, req: LogRequest) -> Result<LogStream, InspectError> {
        let view = self.live(env, unit).await?;
        let pods = pods_of(&view);
        let pod = match &req.pod {
            Some(name) => pods.iter().find(|p| &p.name == name).copied().ok_or_else(|| {
                InspectError::NotFound(format!(
                    "pod {name} is not one of {unit}'s in env {env} (its pods: {})",
                    names(pods.iter().map(|p| p.name.as_str()))
                ))
            })?,
            None => pods
                .first()
                .copied()
                .ok_or_else(|| InspectError::NotFound(format!("{unit} has no pods in env {env}")))?,
        };
        let container = match &req.container {
            Some(c) if pod.containers.iter().any(|x| &x.name == c) => c.clone(),
            Some(c) => {
                return Err(InspectError::NotFound(format!(
                    "pod {} has no container {c} (its containers: {})",
                    pod.name,
                    names(pod.containers.iter().map(|x| x.name.as_str()))
                )))
            }
            None if pod.containers.len() == 1 => pod.containers[0].name.clone(),
            None => {
                return Err(InspectError::BadRequest(format!(
                    "pod {} has several containers: choose one with container= ({})",
                    pod.name,
                    names(pod.containers.iter().map(|x| x.name.as_str()))
                )))
            }
        };
        let t = self.unit_target(env, unit).await?;
        let params = LogParams {
            container: Some(container),
            follow: req.follow,
            tail_lines: Some(req.tail as i64),
            limit_bytes: Some(MAX_BYTES as i64),
            ..LogParams::default()
        };
        let reader = t
            .cluster
            .log_stream(&t.namespace, &pod.name, &params)
            .await
            .map_err(|e| match &e {
                _ if e.is_not_found() => InspectError::NotFound(format!("pod {} is gone", pod.name)),
                // The cluster refuses the log of a container that has not started: say why.
                crate::cluster::ClusterError::Api { code: 400, message, .. } => {
                    InspectError::BadRequest(message.clone())
                }
                other => InspectError::Cluster {
                    cluster: t.cluster_name.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(bounded(
            reader.lines(),
            MAX_BYTES,
            MAX_FOLLOW,
            &self.metrics.log_streams,
        ))
    }
}

/// `5s`, `30min`: how long a stream was followed.
fn duration_text(d: Duration) -> String {
    match d.as_secs() {
        s if s < 60 || s % 60 != 0 => format!("{s}s"),
        s => format!("{}min", s / 60),
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}

/// The lines of `lines`, at most `max_bytes` of them and for at most `max_time`,
/// then an `End` saying why; counted open in `gauge` until dropped.
pub fn bounded(
    lines: impl Stream<Item = std::io::Result<String>> + Send + 'static,
    max_bytes: usize,
    max_time: Duration,
    gauge: &Gauge,
) -> LogStream {
    let open = OpenStream::new(gauge);
    let deadline = tokio::time::Instant::now() + max_time;
    let state = (Box::pin(lines), 0usize, false, open);
    Box::pin(futures::stream::unfold(
        state,
        move |(mut lines, sent, done, open)| async move {
            if done {
                return None;
            }
            let next = tokio::select! {
                line = lines.next() => line,
                _ = tokio::time::sleep_until(deadline) => {
                    let why = format!("followed for {} (the longest a stream stays open); open it again for more", duration_text(max_time));
                    return Some((LogItem::End(why), (lines, sent, true, open)));
                }
            };
            match next {
                Some(Ok(line)) => {
                    let sent = sent + line.len() + 1;
                    if sent > max_bytes {
                        let why = format!("{max_bytes} bytes sent (the most one stream sends); ask for a smaller tail");
                        return Some((LogItem::End(why), (lines, sent, true, open)));
                    }
                    Some((LogItem::Line(line), (lines, sent, false, open)))
                }
                Some(Err(e)) => Some((
                    LogItem::End(format!("reading the log failed: {e}")),
                    (lines, sent, true, open),
                )),
                None => Some((LogItem::End("end of the log".to_string()), (lines, sent, true, open))),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_log_request_has_defaults_and_bad_values_are_named() {
        let r = LogRequest::parse(&query(&[])).unwrap();
        assert_eq!(
            (r.tail, r.follow, r.pod, r.container),
            (DEFAULT_TAIL, false, None, None)
        );
        let r = LogRequest::parse(&query(&[("pod", "web-1"), ("tail", "5"), ("follow", "true")])).unwrap();
        assert_eq!((r.tail, r.follow, r.pod.as_deref()), (5, true, Some("web-1")));
        for (q, says) in [
            (query(&[("tail", "x")]), "tail must be a number"),
            (query(&[("tail", "10001")]), "at most 10000"),
            (query(&[("follow", "yes")]), "follow must be true or false"),
            (query(&[("lines", "3")]), "unknown query parameter \"lines\""),
        ] {
            let e = LogRequest::parse(&q).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[tokio::test]
    async fn a_stream_ends_at_its_byte_limit_and_counts_itself_open_until_dropped() {
        let gauge = Gauge::default();
        let lines = futures::stream::iter((0..100).map(|i| Ok(format!("line {i:03}"))));
        let stream = bounded(lines, 30, Duration::from_secs(60), &gauge);
        assert_eq!(gauge.get(), 1);
        let items: Vec<LogItem> = stream.collect().await;
        assert_eq!(gauge.get(), 0);
        assert_eq!(
            items.len(),
            4,
            "three lines of 9 bytes fit in 30, then the end: {items:?}"
        );
        assert_eq!(items[0], LogItem::Line("line 000".into()));
        assert!(matches!(&items[3], LogItem::End(why) if why.contains("30 bytes sent")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_followed_stream_ends_at_its_time_limit() {
        let gauge = Gauge::default();
        let lines = futures::stream::pending::<std::io::Result<String>>();
        let mut stream = bounded(lines, 1000, Duration::from_secs(5), &gauge);
        let first = stream.next().await.unwrap();
        assert!(
            matches!(&first, LogItem::End(why) if why.contains("followed for 5s")),
            "{first:?}"
        );
        assert!(stream.next().await.is_none());
        drop(stream);
        assert_eq!(gauge.get(), 0);
    }
}
