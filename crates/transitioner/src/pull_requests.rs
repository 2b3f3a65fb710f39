//! Keeps one pull/merge request on the git host per `mode: pull_request`
//! transition in step with its promotion branch: opened (or updated) while the
//! branch ships a pending set, closed once nothing waits on it, its state read on
//! every run and shown in `/status`.
//!
//! ```text
//!  run of transition x ──want(x, Open{title, body} | Closed)──▶ latest wish per transition
//!                                                                  │ (one worker task)
//!                               status per transition ◀── sync ◀──┘──▶ host API
//! ```
//!
//! The worker runs beside the transition runs: a slow or failing host delays no
//! promotion and no other transition's run; its errors are in the status and the log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use slipway_core::status::{PullRequestState, PullRequestStatus};
use slipway_core::transitions::promotion_branch;
use slipway_kit::drain::Drain;
use tokio::sync::{watch, Notify};

use crate::git_host::{HostClient, HostError, PullRequest};

/// What a run wants on the host for one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The promotion branch ships a pending set: a request with this text.
    Open {
        title: String,
        body: String,
        /// The pending set's digest: a request a person closed stays closed until it changes.
        set: String,
    },
    /// Nothing waits on the branch (merged, nothing to ship, or deleted).
    Closed,
}

/// The pull requests of every transition, kept by one worker task.
#[derive(Clone)]
pub struct PullRequests {
    shared: Arc<Shared>,
}

struct Shared {
    host: HostClient,
    /// The main branch, which the requests merge into.
    base: String,
    wishes: Mutex<BTreeMap<String, Wanted>>,
    status: Mutex<BTreeMap<String, PullRequestStatus>>,
    wake: Notify,
    /// Wishes handed in, and how many of them the worker has carried out.
    asked: AtomicU64,
    done: watch::Sender<u64>,
}

/// What the worker knows of one transition's request.
#[derive(Debug, Clone)]
struct Known {
    number: u64,
    /// The set it was opened or last updated for.
    set: Option<String>,
}

impl PullRequests {
    /// Starts the worker; it stops when `drain` begins.
    pub fn start(host: HostClient, base: &str, drain: Drain) -> Self {
        let shared = Arc::new(Shared {
            host,
            base: base.to_string(),
            wishes: Mutex::new(BTreeMap::new()),
            status: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            asked: AtomicU64::new(0),
            done: watch::channel(0).0,
        });
        tokio::spawn(work(shared.clone(), drain));
        PullRequests { shared }
    }

    /// Hands in what the last run of `transition` wants; a wish not yet carried out
    /// is replaced by the newer one.
    pub fn want(&self, transition: &str, wanted: Wanted) {
        lock(&self.shared.wishes).insert(transition.to_string(), wanted);
        self.shared.asked.fetch_add(1, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// The request of `transition` as last seen, for `/status`.
    pub fn status(&self, transition: &str) -> Option<PullRequestStatus> {
        lock(&self.shared.status).get(transition).cloned()
    }

    /// Waits until every wish handed in so far is carried out (tests, tools).
    pub async fn settled(&self) {
        let asked = self.shared.asked.load(Ordering::SeqCst);
        let mut done = self.shared.done.subscribe();
        let _ = done.wait_for(|d| *d >= asked).await;
    }
}

/// Hosts may store a body with `\r\n` line ends or without the last newline.
fn same_text(stored: &str, ours: &str) -> bool {
    stored.replace("\r\n", "\n").trim_end() == ours.trim_end()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data, valid after any panic of a writer.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn work(shared: Arc<Shared>, drain: Drain) {
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut searched: HashSet<String> = HashSet::new();
    loop {
        let asked = shared.asked.load(Ordering::SeqCst);
        let wishes = std::mem::take(&mut *lock(&shared.wishes));
        for (name, wanted) in wishes {
            let outcome = sync(&shared, &name, &wanted, &mut known, &mut searched).await;
            record(&shared, &name, outcome);
        }
        shared.done.send_replace(asked);
        if shared.asked.load(Ordering::SeqCst) != asked {
            continue;
        }
        tokio::select! {
            _ = drain.draining() => return,
            _ = shared.wake.notified() => {}
        }
    }
}

/// Carries out one wish; `Ok(None)`: there is no request to show.
async fn sync(
    shared: &Shared,
    name: &str,
    wanted: &Wanted,
    known: &mut HashMap<String, Known>,
    searched: &mut HashSet<String>,
) -> Result<Option<PullRequest>, HostError> {
    let host = &shared.host;
    let branch = promotion_branch(name);
    let first_look = searched.insert(name.to_string());
    let current = match known.get(name) {
        Some(k) => Some(host.get(k.number).await?),
        // A request opened before a restart is found and adopted (or closed).
        None if matches!(wanted, Wanted::Open { .. }) || first_look => host.find_open(&branch, &shared.base).await?,
        None => None,
    };
    match wanted {
        Wanted::Open { title, body, set } => {
            let same_set = known.get(name).is_some_and(|k| k.set.as_ref() == Some(set));
            let pr = match current {
                Some(pr) if pr.state == PullRequestState::Open => {
                    if pr.title != *title || !same_text(&pr.body, body) {
                        tracing::info!(transition = %name, number = pr.number, "updating the pull request: {title}");
                        host.update(pr.number, title, body).await?
                    } else {
                        pr
                    }
                }
                // Merged: the next run sees the versions on the main branch.
                Some(pr) if pr.state == PullRequestState::Merged => pr,
                // Closed by a person: left closed until what the branch ships changes.
                Some(pr) if same_set => pr,
                _ => {
                    let pr = host.create(&branch, &shared.base, title, body).await?;
                    tracing::info!(transition = %name, number = pr.number, url = %pr.url, "opened a pull request: {title}");
                    pr
                }
            };
            known.insert(
                name.to_string(),
                Known {
                    number: pr.number,
                    set: Some(set.clone()),
                },
            );
            Ok(Some(pr))
        }
        Wanted::Closed => {
            let Some(pr) = current else { return Ok(None) };
            let pr = if pr.state == PullRequestState::Open {
                let closed = host.close(pr.number).await?;
                tracing::info!(transition = %name, number = pr.number, "closed the pull request: nothing waits on {branch} any more");
                closed
            } else {
                pr
            };
            // Done with: later runs that want nothing open ask the host nothing.
            known.remove(name);
            Ok(Some(pr))
        }
    }
}

fn record(shared: &Shared, name: &str, outcome: Result<Option<PullRequest>, HostError>) {
    let mut status = lock(&shared.status);
    let host = shared.host.kind().name().to_string();
    match outcome {
        Ok(Some(pr)) => {
            status.insert(
                name.to_string(),
                PullRequestStatus {
                    host,
                    number: Some(pr.number),
                    url: Some(pr.url).filter(|u| !u.is_empty()),
                    state: Some(pr.state),
                    error: None,
                },
            );
        }
        Ok(None) => {
            if let Some(s) = status.get_mut(name) {
                s.error = None;
            }
        }
        Err(e) => {
            let entry = status.entry(name.to_string()).or_insert_with(|| PullRequestStatus {
                host,
                ..PullRequestStatus::default()
            });
            // Said once per new error, not on every run.
            let message = e.to_string();
            if entry.error.as_ref() != Some(&message) {
                tracing::warn!(transition = %name, "cannot keep the pull request in step on the git host: {message}");
            }
            entry.error = Some(message);
        }
    }
}
