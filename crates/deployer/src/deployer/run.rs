//! The loop of `serve`: the service kit's fetch loop fetches once per poll (or
//! refresh) for every env; after each fetch every env is reconciled on its own
//! task, envs with a rollout in progress are checked again by the
//! [`crate::scheduler::Scheduler`] without fetching, and a change seen by a watch
//! reconciles the envs soon after (at most every [`WATCH_MIN_GAP`]).
//!
//! ```text
//!  fetch_loop (poll_interval, POST /refresh) ─fetched─┐
//!  watches (a change in the cluster) ────────changed─┼─▶ run: start env tasks ─▶ reconcile_env
//!  scheduler (rollout checks due) ─────────────due───┘        (each holds a drain guard)
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use slipway_kit::drain::{Drain, DrainGuard};
use slipway_kit::fetch::{fetch_loop, Wakeups};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{lock, Deployer};
use crate::scheduler::Checks;

/// How long a change seen by a watch waits for others before the envs are reconciled.
pub const WATCH_SETTLE: Duration = Duration::from_millis(20);

/// The shortest time between two reconcile rounds started by watches.
pub const WATCH_MIN_GAP: Duration = Duration::from_millis(100);

/// The first rollout check after a reconcile that left a rollout in progress.
pub const FIRST_ROLLOUT_CHECK: Duration = Duration::from_millis(100);

/// Which envs one round reconciles, with the last fetched snapshot.
enum Round {
    /// Every env (after a fetch, or a watch saw a change).
    All,
    /// These envs (their rollout check is due).
    Envs(BTreeSet<String>),
}

impl Deployer {
    /// The loop of `serve`: fetch on every poll interval and on refresh, and after
    /// each fetch start a reconcile for every env that is not reconciling already
    /// (one that is gets another run right after, with the newest snapshot). While
    /// a rollout is in progress, that env is reconciled again without fetching,
    /// when the [`crate::scheduler::Scheduler`] says (first after
    /// [`FIRST_ROLLOUT_CHECK`], then at doubling intervals up to
    /// `rollout_check_interval`), so a fast rollout is reported `Clean` (or
    /// `Failed`) soon after it happens, a slow one costs few reads, and the repo
    /// host still sees one fetch per poll. Once `drain` begins no reconcile
    /// starts; the ones in flight hold it until they are done.
    pub async fn run(self: Arc<Self>, drain: Drain) {
        let fetched = Arc::new(Notify::new());
        let fetching = tokio::spawn(self.clone().fetch_loop(drain.clone(), fetched.clone()));
        let mut tasks = JoinSet::new();
        let mut last_woken = Instant::now() - WATCH_MIN_GAP;
        loop {
            // Wait for a fetch, a change seen by a watch, or the next rollout
            // check; a finished reconcile may schedule a check.
            let round = loop {
                let due = lock(&self.scheduler).next_due();
                tokio::select! {
                    _ = drain.draining() => {
                        self.stop_starting(&mut tasks);
                        let _ = fetching.await;
                        return;
                    }
                    _ = fetched.notified() => break Round::All,
                    _ = sleep_until(due) => {
                        let due: BTreeSet<String> = lock(&self.scheduler).due(Instant::now()).into_iter().collect();
                        if !due.is_empty() {
                            break Round::Envs(due);
                        }
                    }
                    _ = self.changed.notified() => {
                        // Let a burst of changes (a rollout step of many objects) settle into
                        // one reconcile, and keep a cluster that changes all the time from
                        // keeping the deployer busy.
                        let wake = (Instant::now() + WATCH_SETTLE).max(last_woken + WATCH_MIN_GAP);
                        tokio::time::sleep_until(wake).await;
                        last_woken = Instant::now();
                        break Round::All;
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            };
            let snapshot = lock(&self.snapshot).clone();
            let Some(snapshot) = snapshot else { continue };
            let Ok(targets) = self.targets(&snapshot) else { continue };
            self.forget_removed_envs(&targets);
            self.forget_envs_not_held();
            for env in targets.keys() {
                if let Round::Envs(due) = &round {
                    if !due.contains(env) {
                        continue;
                    }
                }
                self.start_env(&mut tasks, env, &drain);
            }
            self.start_teardowns(&mut tasks, &snapshot, targets, &drain);
        }
    }

    /// On a task of its own, one such task at a time: searches the clusters for
    /// namespaces of removed preview envs at start and when `deployers.yaml`
    /// changes, and tears down the removed preview envs.
    fn start_teardowns(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        snapshot: &Arc<slipway_core::RepoSnapshot>,
        targets: std::collections::BTreeMap<String, slipway_core::deployers::DeployTarget>,
        drain: &Drain,
    ) {
        use std::sync::atomic::Ordering;
        if !self.teardowns_pending() && !self.search_due(snapshot) {
            return;
        }
        if self.tearing_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let (me, snapshot, in_flight) = (self.clone(), snapshot.clone(), drain.guard());
        tasks.spawn(async move {
            let _in_flight = in_flight;
            me.search_removed_previews(&snapshot, &targets).await;
            me.tear_down_removed_previews(&snapshot).await;
            me.tearing_down.store(false, Ordering::SeqCst);
        });
    }

    /// The fetches: the kit's fetch loop, each success handed to the run loop.
    async fn fetch_loop(self: Arc<Self>, drain: Drain, fetched: Arc<Notify>) {
        let wakeups = Wakeups {
            every: self.config.poll_interval,
            now: self.refresh.clone(),
            drain,
        };
        let (record, clock) = (self.fetches.clone(), self.clock.clone());
        fetch_loop("fetching the resource repo", wakeups, record, clock, || async {
            self.fetch().await.map_err(|e| e.to_string())?;
            fetched.notify_one();
            Ok(())
        })
        .await;
    }

    /// On shutdown: the reconciles in flight finish (a half-applied env would be
    /// reported as it was before), each holding the drain until then, but none
    /// starts again.
    fn stop_starting(&self, tasks: &mut JoinSet<()>) {
        for env in lock(&self.envs).values_mut() {
            env.again = false;
        }
        tasks.detach_all();
    }

    /// Starts a reconcile of `env` on its own task, unless one runs: then that
    /// one runs again when it is done.
    fn start_env(self: &Arc<Self>, tasks: &mut JoinSet<()>, env: &str, drain: &Drain) {
        // With sharding on, another replica applies to the envs this one does not hold.
        if !self.shards().holds(env) {
            return;
        }
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
            let in_flight = drain.guard();
            tasks.spawn(async move { me.env_task(env, in_flight).await });
        }
    }

    pub(super) fn checks(&self) -> Checks {
        Checks {
            first: FIRST_ROLLOUT_CHECK,
            max: self.config.rollout_check_interval,
        }
    }

    async fn env_task(self: Arc<Self>, env: String, _in_flight: DrainGuard) {
        loop {
            let snapshot = lock(&self.snapshot).clone();
            let target = snapshot
                .as_ref()
                .and_then(|s| s.deployers().ok())
                .and_then(|d| d.deployers.get(&env).cloned());
            // Held for the reconcile: the env's Lease is not given up meanwhile.
            let busy = self.may_reconcile(&env);
            if let Err(why) = &busy {
                tracing::debug!(env, "not reconciled: {why}");
            }
            if let (Some(snapshot), Some(target), Ok(_busy)) = (snapshot, target, busy) {
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

/// Sleeps until `due`; never returns without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
