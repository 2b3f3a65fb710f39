//! The loop of `serve`: one fetch per poll (or refresh) shared by every env,
//! each env reconciled on its own task, envs with a rollout in progress
//! checked again by the [`crate::scheduler::Scheduler`] without fetching, and a change seen by
//! a watch reconciling the envs soon after (at most every [`WATCH_MIN_GAP`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{lock, Deployer};
use crate::scheduler::Checks;

/// How long a change seen by a watch waits for others before the envs are reconciled.
pub const WATCH_SETTLE: Duration = Duration::from_millis(20);

/// The shortest time between two reconcile rounds started by watches.
pub const WATCH_MIN_GAP: Duration = Duration::from_millis(100);

/// The first rollout check after a reconcile that left a rollout in progress.
pub const FIRST_ROLLOUT_CHECK: Duration = Duration::from_millis(100);

/// What one round of the loop does.
enum Round {
    /// Fetch, then reconcile every env.
    Fetch,
    /// Reconcile every env with the last snapshot (a watch saw a change).
    All,
    /// Reconcile these envs with the last snapshot (their rollout check is due).
    Envs(BTreeSet<String>),
}

impl Deployer {
    /// The loop of `serve`: fetch on every poll interval and on refresh, and start a
    /// reconcile for every env that is not reconciling already (one that is gets
    /// another run right after, with the newest snapshot). While a rollout is in
    /// progress, that env is reconciled again without fetching, when the
    /// [`crate::scheduler::Scheduler`] says (first after [`FIRST_ROLLOUT_CHECK`], then at doubling
    /// intervals up to `rollout_check_interval`), so a fast rollout is reported
    /// `Clean` (or `Failed`) soon after it happens, a slow one costs few reads,
    /// and the repo host still sees one fetch per poll.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut round = Round::Fetch;
        let mut next_fetch = Instant::now();
        let mut last_woken = Instant::now() - WATCH_MIN_GAP;
        loop {
            let snapshot = if matches!(round, Round::Fetch) {
                next_fetch = Instant::now() + self.config.poll_interval;
                self.fetch().await.ok()
            } else {
                lock(&self.snapshot).clone()
            };
            if let Some(snapshot) = snapshot {
                if let Ok(targets) = self.targets(&snapshot) {
                    self.forget_removed_envs(&targets);
                    for env in targets.keys() {
                        if let Round::Envs(due) = &round {
                            if !due.contains(env) {
                                continue;
                            }
                        }
                        self.start_env(&mut tasks, env);
                    }
                }
            }
            // Wait for the next poll, a refresh, a change seen by a watch, or the
            // next rollout check; a finished reconcile may schedule a check.
            round = loop {
                let due = lock(&self.scheduler).next_due();
                let wake = due.map_or(next_fetch, |due| due.min(next_fetch));
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        self.drain(&mut tasks).await;
                        return;
                    }
                    _ = tokio::time::sleep_until(wake) => {
                        let now = Instant::now();
                        if now >= next_fetch {
                            break Round::Fetch;
                        }
                        let due: BTreeSet<String> = lock(&self.scheduler).due(now).into_iter().collect();
                        if !due.is_empty() {
                            break Round::Envs(due);
                        }
                    }
                    _ = self.refresh.notified() => break Round::Fetch,
                    _ = self.changed.notified() => {
                        // Let a burst of changes (a rollout step of many objects) settle into
                        // one reconcile, and keep a cluster that changes all the time from
                        // keeping the deployer busy.
                        let wake = (Instant::now() + WATCH_SETTLE).max(last_woken + WATCH_MIN_GAP);
                        tokio::time::sleep_until(wake).await;
                        last_woken = Instant::now();
                        break if last_woken >= next_fetch { Round::Fetch } else { Round::All };
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            };
        }
    }

    /// On shutdown: the reconciles in flight finish (a half-applied env would be
    /// reported as it was before), but none starts again.
    async fn drain(&self, tasks: &mut JoinSet<()>) {
        for env in lock(&self.envs).values_mut() {
            env.again = false;
        }
        if !tasks.is_empty() {
            tracing::info!(
                reconciles = tasks.len(),
                "waiting for the reconciles in flight to finish"
            );
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Starts a reconcile of `env` on its own task, unless one runs: then that
    /// one runs again when it is done.
    fn start_env(self: &Arc<Self>, tasks: &mut JoinSet<()>, env: &str) {
        let start = self.with_env(env, |e| {
            if e.running {
                e.again = true;
                false
            } else {
                e.running = true;
                true
            }
        });
        if start {
            let me = self.clone();
            let env = env.to_string();
            tasks.spawn(async move { me.env_task(env).await });
        }
    }

    fn checks(&self) -> Checks {
        Checks {
            first: FIRST_ROLLOUT_CHECK,
            max: self.config.rollout_check_interval,
        }
    }

    async fn env_task(self: Arc<Self>, env: String) {
        loop {
            let snapshot = lock(&self.snapshot).clone();
            let target = snapshot
                .as_ref()
                .and_then(|s| s.deployers().ok())
                .and_then(|d| d.deployers.get(&env).cloned());
            if let (Some(snapshot), Some(target)) = (snapshot, target) {
                let me = self.clone();
                let name = env.clone();
                // On its own task, so that even a bug that panics leaves this loop (and the env's state) intact.
                let run = tokio::spawn(async move { me.reconcile_env(&name, &target, &snapshot).await });
                match run.await {
                    Ok(run) => {
                        let wrote = run.applied + run.pruned + run.released > 0;
                        lock(&self.scheduler).reconciled(&env, run.status.status, wrote, self.checks(), Instant::now());
                    }
                    Err(e) => tracing::error!(env, "reconcile task failed: {e}"),
                }
            }
            let again = lock(&self.envs).get_mut(&env).is_some_and(|e| {
                if e.again {
                    e.again = false;
                    true
                } else {
                    e.running = false;
                    false
                }
            });
            if !again {
                return;
            }
        }
    }
}
