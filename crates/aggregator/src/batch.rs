//! Group commit of `POST /api/versions`: posts that arrive while a push is in
//! flight wait in a queue; when the push is done, everything queued (at most
//! `version_batch_max`) is committed together — one commit per post, each on the
//! one before, in arrival order — and pushed once.
//!
//! ```text
//!  post ─┐                 ┌─ fetch, plan + commit each, push once ─┐
//!  post ─┼─▶ queue ─▶ batch┤                                        ├─▶ each post: 201 / its refusal / the push's error
//!  post ─┘                 └────────────────────────────────────────┘
//! ```
//!
//! A post is answered only after the push that carries it succeeded; when that
//! push fails, every post in it gets the error and none was acknowledged. A
//! post the planner refuses (a lock, an unknown env) is refused alone. The batch
//! bound keeps each push short, so the transitioner's pushes (and this
//! aggregator's own lock and rollback writes) get their turn between batches.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use slipway_core::RepoSnapshot;
use slipway_kit::drain::DrainGuard;
use slipway_repo::{Author, BatchItem, Change, Committed, GitError, ResourceRepo, SharedRepo};
use tokio::sync::{mpsc, oneshot};

use crate::app::{is_repo_health, WriteError, Written};
use crate::refusal::Refusal;
use crate::store::Store;
use crate::versions::{self, VersionRequest};

/// Posts waiting for their batch, at most; more wait to be queued.
const QUEUE_LEN: usize = 1024;

/// One post waiting for the push that carries it.
struct Pending {
    author: String,
    request: VersionRequest,
    reply: oneshot::Sender<Result<Written, WriteError>>,
    /// Held until the post is answered: shutdown waits for the push that carries it.
    _in_flight: DrainGuard,
}

/// The queue of posted versions and the task that commits them in batches.
#[derive(Clone)]
pub struct VersionQueue {
    queue: mpsc::Sender<Pending>,
}

impl VersionQueue {
    /// Starts the batching task: up to `max_batch` posts per push (1: each post
    /// its own fetch, commit and push). `pushes` counts the pushes it makes;
    /// `pushed` runs once after each push that carried a new commit (to ask the
    /// deployer and transitioner to refresh once per batch, not once per post).
    pub fn start(
        repo: SharedRepo,
        store: Arc<Store>,
        max_batch: usize,
        pushes: Counter,
        pushed: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let (queue, posts) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(run(posts, repo, store, max_batch.max(1), pushes, pushed));
        VersionQueue { queue }
    }

    /// Commits `request` as `author` with the next batch; answers once the push
    /// that carries it succeeded. `in_flight` is held until then, also when the
    /// caller goes away meanwhile.
    pub async fn post(
        &self,
        author: String,
        request: VersionRequest,
        in_flight: DrainGuard,
    ) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || WriteError::Repo(GitError::Change("the aggregator is shutting down".to_string()));
        self.queue
            .send(Pending {
                author,
                request,
                reply,
                _in_flight: in_flight,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes what is queued (waiting only for the first), commits it as one batch,
/// answers each post; until every sender is gone.
async fn run(
    mut posts: mpsc::Receiver<Pending>,
    repo: SharedRepo,
    store: Arc<Store>,
    max_batch: usize,
    pushes: Counter,
    pushed: Arc<dyn Fn() + Send + Sync>,
) {
    while let Some(first) = posts.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match posts.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let requests: Vec<(String, VersionRequest)> =
            batch.iter().map(|p| (p.author.clone(), p.request.clone())).collect();
        let store = store.clone();
        let size = requests.len();
        let started = std::time::Instant::now();
        let outcomes = repo.with(move |r| write_batch(r, &store, requests)).await;
        pushes.inc();
        tracing::debug!(
            size,
            took_ms = started.elapsed().as_millis() as u64,
            "version batch written"
        );
        match outcomes {
            Ok(outcomes) => {
                if outcomes.iter().any(|o| matches!(o, Ok(w) if w.created)) {
                    pushed();
                }
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(outcome.map_err(WriteError::Refused));
                }
            }
            Err(e) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(WriteError::Repo(e.clone())));
                }
            }
        }
    }
}

type Plan = Box<dyn FnMut(&RepoSnapshot) -> Result<Option<Change>, Refusal>>;

/// Commits every request, one commit each, and pushes them once (blocking: runs
/// git). On success the store sees the pushed head before this returns.
pub fn write_batch(
    repo: &ResourceRepo,
    store: &Store,
    requests: Vec<(String, VersionRequest)>,
) -> Result<Vec<Result<Written, Refusal>>, GitError> {
    let mut items: Vec<BatchItem<Plan>> = requests
        .into_iter()
        .map(|(author, request)| BatchItem {
            author: Author::named(&author),
            make_change: Box::new(move |snapshot: &RepoSnapshot| versions::plan(snapshot, &request)) as Plan,
        })
        .collect();
    match repo.commit_and_push_all(&mut items) {
        Ok(outcomes) => {
            match repo.head_snapshot() {
                Ok(s) => store.set_snapshot(s),
                Err(e) => store.set_repo_error(e.to_string()),
            }
            Ok(outcomes
                .into_iter()
                .map(|outcome| {
                    outcome.map(|committed| match committed {
                        Committed::Made(commit) => Written {
                            commit: commit.to_string(),
                            created: true,
                        },
                        Committed::Unchanged { head } => Written {
                            commit: head,
                            created: false,
                        },
                    })
                })
                .collect())
        }
        Err(e) => {
            if is_repo_health(&e) {
                store.set_repo_error(e.to_string());
            }
            Err(e)
        }
    }
}
