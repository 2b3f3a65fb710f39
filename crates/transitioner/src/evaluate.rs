//! The decision of one transition run: which services move, which are held back
//! and why, and the schedule state afterwards. Pure: the shell gathers the inputs
//! and carries out the decision as one commit.

use chrono::{DateTime, Utc};
use slipway_core::approvals::{self, approvals_path, Approvals, Verdict};
use slipway_core::locks::Locks;
use slipway_core::merge::parse_vars;
use slipway_core::model::{version_label, version_path};
use slipway_core::status::{Promotion, PromotionState, SkippedService, TransitionResult};
use slipway_core::transitions::{promotion_branch, Mode, ScheduleState, Transition, TransitionState};
use slipway_core::windows::{self, Gate};
use slipway_core::RepoSnapshot;

use crate::schedule::{self, Due};
use crate::source_check::{self, SourceObservation};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The poll loop or `POST /refresh`: schedules and `manual` apply.
    Poll,
    /// `POST /transitions/{name}/run`: runs now, also a manual transition; the schedule is ignored.
    Manual,
}

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub transition: &'a Transition,
    /// The repo as the run saw it when it started: source versions come from here, so
    /// a chain of transitions moves a version one step per run.
    pub source: &'a RepoSnapshot,
    /// The current head: target versions and locks come from here.
    pub head: &'a RepoSnapshot,
    /// `transition_state.yaml` at the head.
    pub state: &'a TransitionState,
    pub observation: &'a SourceObservation,
    pub now: DateTime<Utc>,
    pub trigger: Trigger,
    /// Break-glass: a manual run goes ahead while the windows are closed; the reason is recorded.
    pub override_windows: Option<&'a str>,
    /// The promotion branch (`mode: pull_request`).
    pub branch: Branch<'a>,
}

/// What the remote has of a transition's promotion branch.
#[derive(Debug, Clone, Copy)]
pub enum Branch<'a> {
    /// Direct mode: not looked at.
    NotAsked,
    /// The remote has no such branch.
    Missing,
    /// The branch's files.
    At(&'a RepoSnapshot),
}

/// One service to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPromotion {
    pub service: String,
    /// Version label in the target before (`None`: new in the target).
    pub old: Option<String>,
    pub new: String,
    /// The target's version file before (`None`: new in the target).
    pub old_content: Option<Vec<u8>>,
    /// The source's version file, written to the target as is.
    pub content: Vec<u8>,
}

impl PlannedPromotion {
    /// The service and its versions, as the status shows them.
    pub fn promotion(&self) -> Promotion {
        Promotion {
            service: self.service.clone(),
            old: self.old.clone(),
            new: self.new.clone(),
        }
    }
}

/// A run that went ahead while the windows were closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOverride {
    /// Why the windows were closed.
    pub closed: String,
    /// Why the person ran it anyway.
    pub reason: String,
}

/// The outcome of evaluating one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub result: TransitionResult,
    pub reason: String,
    /// Services to copy to the target (empty unless `Success`).
    pub promotions: Vec<PlannedPromotion>,
    /// Services whose source version differs from the target and that do not move in this run.
    pub pending: Vec<String>,
    /// Services held back, with why (locks, unreadable version files).
    pub skipped: Vec<SkippedService>,
    /// The entry this transition should have in `transition_state.yaml` (`None`: no entry).
    pub schedule: Option<ScheduleState>,
    /// The next scheduled run, for the status (also when no entry is stored).
    pub next_run: Option<DateTime<Utc>>,
    pub state: PromotionState,
    /// While `Frozen`: when the windows open next.
    pub frozen_until: Option<DateTime<Utc>>,
    /// What would move if nothing kept it back (empty after a promotion).
    pub would_ship: Vec<Promotion>,
    /// Every service lock in the target env, as `held: <reasons>`.
    pub holds: Vec<SkippedService>,
    /// Set when this run went ahead through closed windows.
    pub overridden: Option<WindowOverride>,
    /// Digest of what would ship ([`approvals::set_digest`]); `None` when nothing would.
    pub pending_set: Option<String>,
    /// The approvals of that set that count, in the order given.
    pub approved_by: Vec<String>,
    /// The last rejection of that set.
    pub rejected: Option<Verdict>,
    /// `mode: pull_request`: what to push to the promotion branch (instead of `promotions`).
    pub branch_push: Vec<PlannedPromotion>,
    /// The entry this transition should have in `pushed` of `transition_state.yaml`.
    pub pushed: Option<String>,
}

impl Decision {
    /// The next scheduled run, for the status.
    pub fn next_scheduled(&self) -> Option<DateTime<Utc>> {
        self.next_run
    }

    /// The label of each promotion, `s1 41 → 42`, joined by `, `.
    pub fn summary(&self) -> String {
        summary(&self.promotions)
    }
}

/// `s1 41 → 42, s2 (new) → 1`.
pub fn summary(promotions: &[PlannedPromotion]) -> String {
    promotions
        .iter()
        .map(|p| format!("{} {} → {}", p.service, p.old.as_deref().unwrap_or("(new)"), p.new))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Candidate {
    service: String,
    content: Vec<u8>,
    old_content: Option<Vec<u8>>,
}

/// What could move, before the gates (manual, schedule, windows, source) are asked.
struct Plan {
    /// No candidates at all: the target has every version of the source.
    nothing_differs: bool,
    movable: Vec<PlannedPromotion>,
    locks: Locks,
}

/// Decides one run of a transition.
pub fn evaluate(input: Input<'_>) -> Decision {
    let t = input.transition;
    let candidates = candidates(&input);
    let mut decision = Decision {
        result: TransitionResult::Skipped,
        reason: String::new(),
        promotions: Vec::new(),
        pending: candidates.iter().map(|c| c.service.clone()).collect(),
        skipped: Vec::new(),
        schedule: None,
        next_run: None,
        state: PromotionState::UpToDate,
        frozen_until: None,
        would_ship: Vec::new(),
        holds: Vec::new(),
        overridden: None,
        pending_set: None,
        approved_by: Vec::new(),
        rejected: None,
        branch_push: Vec::new(),
        pushed: input.state.pushed.get(&t.name).cloned(),
    };
    // The entry stays as it is unless this evaluation says otherwise.
    decision.schedule = input.state.transitions.get(&t.name).cloned();
    let plan = match plan(&input, candidates, &mut decision) {
        Ok(plan) => plan,
        Err(reason) => {
            decision.result = TransitionResult::CheckFailed;
            decision.reason = reason;
            return finish(decision);
        }
    };
    decision.would_ship = plan.movable.iter().map(PlannedPromotion::promotion).collect();
    if plan.movable.is_empty() {
        // Merged (or nothing to ship): nothing is on a promotion branch any more.
        decision.pushed = None;
    } else {
        let digest = approvals::set_digest(plan.movable.iter().map(|p| (p.service.as_str(), p.content.as_slice())));
        if t.approvals > 0 {
            let approvals = match read_approvals(input.head, &t.target) {
                Ok(approvals) => approvals,
                Err(reason) => {
                    decision.result = TransitionResult::CheckFailed;
                    decision.reason = reason;
                    return finish(decision);
                }
            };
            let entry = approvals.for_set(&t.name, &digest);
            decision.approved_by = approvals::counted(t, entry);
            decision.rejected = entry.and_then(|e| e.rejected.clone());
        }
        decision.pending_set = Some(digest);
    }

    if t.manual && input.trigger == Trigger::Poll {
        let have = decision.approved_by.len();
        let awaiting = if !plan.movable.is_empty() && have < t.approvals as usize {
            // The run on request would wait for approvals: say so now, so that
            // people see what to approve before anyone asks for the run.
            decision.state = PromotionState::AwaitingApproval;
            format!("; awaiting approval: {have} of {}", t.approvals)
        } else {
            String::new()
        };
        decision.reason = format!(
            "manual: runs only when asked (POST /transitions/{}/run){awaiting}{}",
            t.name,
            waiting(&decision.pending)
        );
        return finish(decision);
    }

    let waiting_to_move = !plan.movable.is_empty();
    let entry = match input.trigger {
        Trigger::Poll => schedule::current_entry(t, input.state, input.now, waiting_to_move),
        // A manual run ignores the schedule.
        Trigger::Manual => decision.schedule.clone().filter(|_| t.schedule.is_some()),
    };
    if input.trigger == Trigger::Poll {
        decision.schedule = entry.clone();
    }
    decision.next_run = match &entry {
        Some(entry) => entry.next_due,
        None if !t.manual => t.next_after(input.now),
        None => None,
    };
    let due_since = match input.trigger {
        Trigger::Manual => None,
        Trigger::Poll => match schedule::due(entry.as_ref(), input.now) {
            Due::Unscheduled => None,
            Due::Due { since } => Some(since),
            Due::NotDue { next } => {
                decision.reason = format!("not due: next run at {}{}", rfc3339(next), waiting(&decision.pending));
                return finish(decision);
            }
            Due::Never => {
                decision.result = TransitionResult::CheckFailed;
                decision.reason = format!(
                    "schedule {:?} has no future times: fix it in transitions.yaml",
                    t.schedule_text.as_deref().unwrap_or_default()
                );
                return finish(decision);
            }
        },
    };

    let (result, reason) = decide(&input, plan, &mut decision);
    decision.result = result;
    decision.reason = match (due_since, result) {
        (Some(since), TransitionResult::Blocked | TransitionResult::CheckFailed) => {
            format!("scheduled run due since {} is pending: {reason}", rfc3339(since))
        }
        _ => reason,
    };
    if t.schedule.is_some() && !t.manual {
        match (due_since, input.trigger, result) {
            (Some(_), _, _) => decision.schedule = entry.and_then(|e| schedule::after_due_run(e, result)),
            // The pending set moved: nothing waits for the schedule any more.
            (None, Trigger::Manual, TransitionResult::Success) => decision.schedule = None,
            _ => {}
        }
        if decision.schedule.is_none() {
            decision.next_run = t.next_after(input.now);
        }
    }
    finish(decision)
}

/// Sets the state from the result.
fn finish(mut decision: Decision) -> Decision {
    decision.state = if matches!(
        decision.state,
        PromotionState::Frozen | PromotionState::AwaitingApproval | PromotionState::AwaitingMerge
    ) {
        decision.state
    } else if matches!(
        decision.result,
        TransitionResult::Blocked | TransitionResult::CheckFailed
    ) {
        PromotionState::Blocked
    } else if decision.pending.is_empty() {
        PromotionState::UpToDate
    } else {
        PromotionState::Pending
    };
    if decision.result == TransitionResult::Success {
        decision.would_ship.clear();
    }
    decision
}

/// The word that starts the reason of a run kept back by its windows.
const FROZEN: &str = "frozen: ";

/// Reads the target's locks, records the holds and the held-back services, and
/// finds what could move.
fn plan(input: &Input<'_>, candidates: Vec<Candidate>, decision: &mut Decision) -> Result<Plan, String> {
    let t = input.transition;
    let locks = input
        .head
        .locks(&t.target)
        .map_err(|e| format!("cannot read the target's locks: {e}"))?;
    decision.holds = locks
        .resource_locks
        .iter()
        .filter(|(_, lock)| !lock.reasons.is_empty())
        .map(|(service, lock)| SkippedService {
            service: service.clone(),
            reason: format!("held: {}", lock.reasons.join("; ")),
        })
        .collect();
    let nothing_differs = candidates.is_empty();
    let mut movable = Vec::new();
    for c in candidates {
        let reasons = locks.blocking_reasons(&c.service);
        if !reasons.is_empty() {
            let what = if locks.env_locked() {
                format!("env {} is locked", t.target)
            } else {
                format!("locked in {}", t.target)
            };
            decision.skipped.push(SkippedService {
                service: c.service.clone(),
                reason: format!("{what}: {}", reasons.join("; ")),
            });
            continue;
        }
        let new_text = String::from_utf8_lossy(&c.content);
        let new_vars = match parse_vars(&version_path(&t.source, &c.service), &new_text) {
            Ok(vars) => vars,
            Err(e) => {
                decision.skipped.push(SkippedService {
                    service: c.service.clone(),
                    reason: format!("not promoted, the source version file is invalid: {e}"),
                });
                continue;
            }
        };
        let old = c.old_content.as_ref().map(|bytes| {
            let path = version_path(&t.target, &c.service);
            parse_vars(&path, &String::from_utf8_lossy(bytes))
                .map(|vars| version_label(&vars))
                .unwrap_or_else(|_| "(invalid)".to_string())
        });
        movable.push(PlannedPromotion {
            service: c.service,
            old,
            new: version_label(&new_vars),
            old_content: c.old_content,
            content: c.content,
        });
    }
    Ok(Plan {
        nothing_differs,
        movable,
        locks,
    })
}

/// Locks, windows, preconditions and the promotions, once the run may happen.
fn decide(input: &Input<'_>, plan: Plan, decision: &mut Decision) -> (TransitionResult, String) {
    let t = input.transition;
    if plan.nothing_differs {
        let reason = if input.source.env_files(&t.source).versions.is_empty() {
            format!("nothing to promote: source {} has no version files", t.source)
        } else {
            format!("nothing to promote: {} has every version of {}", t.target, t.source)
        };
        return (TransitionResult::Skipped, reason);
    }
    let held = decision
        .skipped
        .iter()
        .map(|s| format!("{} ({})", s.service, s.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if plan.movable.is_empty() {
        if plan.locks.env_locked() {
            return (
                TransitionResult::Skipped,
                format!(
                    "target env {} is locked: {}",
                    t.target,
                    plan.locks.env_reasons().join("; ")
                ),
            );
        }
        return (TransitionResult::Skipped, format!("every change is held back: {held}"));
    }
    if let Gate::Closed { why, until } = windows::gate(&t.windows, input.now) {
        match (input.trigger, input.override_windows) {
            (Trigger::Manual, Some(reason)) => {
                decision.overridden = Some(WindowOverride {
                    closed: why,
                    reason: reason.to_string(),
                });
            }
            (trigger, _) => {
                decision.state = PromotionState::Frozen;
                decision.frozen_until = until;
                let opens = match until {
                    Some(at) => format!("until {}", rfc3339(at)),
                    None => "with no opening ahead".to_string(),
                };
                let hint = match trigger {
                    Trigger::Manual => format!(
                        "; to run it anyway, POST /transitions/{}/run with {{\"override_windows\": true, \"reason\": \"...\"}}",
                        t.name
                    ),
                    Trigger::Poll => String::new(),
                };
                return (
                    TransitionResult::Blocked,
                    format!("{FROZEN}{why}, {opens}{}{hint}", waiting(&decision.pending)),
                );
            }
        }
    }
    if let Some(blocked) = source_check::check(t, input.observation, input.now) {
        return blocked;
    }
    let have = decision.approved_by.len();
    if have < t.approvals as usize {
        decision.state = PromotionState::AwaitingApproval;
        let so_far = match have {
            0 => "none yet".to_string(),
            _ => decision.approved_by.join(", "),
        };
        let rejected = match &decision.rejected {
            Some(v) => format!(
                "; rejected by {}: {}",
                v.by,
                v.reason.as_deref().unwrap_or("no reason given")
            ),
            None => String::new(),
        };
        return (
            TransitionResult::Blocked,
            format!(
                "awaiting approval: {have} of {} ({so_far}) for {}{rejected}; approve with POST /api/transitions/{}/approve",
                t.approvals,
                summary(&plan.movable),
                t.name
            ),
        );
    }
    let movable = plan.movable;
    if t.mode == Mode::PullRequest {
        return pull_request(input, movable, decision);
    }
    let mut reason = format!("promoted {}", summary(&movable));
    if !held.is_empty() {
        reason.push_str(&format!("; held back: {held}"));
    }
    if let Some(o) = &decision.overridden {
        reason.push_str(&format!("; windows overridden ({}): {}", o.closed, o.reason));
    }
    decision.pending.retain(|s| !movable.iter().any(|p| &p.service == s));
    decision.promotions = movable;
    (TransitionResult::Success, reason)
}

/// `mode: pull_request`: the promotion goes to its branch, and is done once a person
/// merged it (then the target has the versions and nothing differs any more).
fn pull_request(
    input: &Input<'_>,
    movable: Vec<PlannedPromotion>,
    decision: &mut Decision,
) -> (TransitionResult, String) {
    let t = input.transition;
    let branch = promotion_branch(&t.name);
    let digest = decision.pending_set.clone().unwrap_or_default();
    let ships = summary(&movable);
    let on_branch = |snap: &RepoSnapshot| {
        movable
            .iter()
            .all(|p| snap.files.get(&version_path(&t.target, &p.service)).map(|c| &c[..]) == Some(&p.content[..]))
    };
    decision.state = PromotionState::AwaitingMerge;
    match input.branch {
        Branch::At(snap) if on_branch(snap) => {
            decision.pushed = Some(digest);
            (
                TransitionResult::Blocked,
                format!("awaiting merge: {branch} ships {ships}; merge it into the main branch to promote"),
            )
        }
        Branch::Missing if input.trigger == Trigger::Poll && input.state.pushed.get(&t.name) == Some(&digest) => {
            decision.state = PromotionState::Pending;
            (
                TransitionResult::Skipped,
                format!(
                    "the promotion branch {branch} was deleted unmerged: {ships} waits; it is pushed again when what it would ship changes, or on POST /transitions/{}/run",
                    t.name
                ),
            )
        }
        _ => {
            decision.pushed = Some(digest);
            decision.branch_push = movable;
            (
                TransitionResult::Blocked,
                format!("awaiting merge: pushed {branch} with {ships}; merge it into the main branch to promote"),
            )
        }
    }
}

/// `<target>/approvals.yaml` at `head`.
pub fn read_approvals(head: &RepoSnapshot, target: &str) -> Result<Approvals, String> {
    let path = approvals_path(target);
    match head.files.get(&path) {
        None => Ok(Approvals::default()),
        Some(bytes) => Approvals::parse(&path, &String::from_utf8_lossy(bytes))
            .map_err(|e| format!("cannot read the approvals: {e}; fix or delete the file")),
    }
}

/// Services whose version file in the source differs from the target's, in name order.
/// A service only in the target is left alone.
fn candidates(input: &Input<'_>) -> Vec<Candidate> {
    let t = input.transition;
    let files = input.source.env_files(&t.source);
    let mut out = Vec::new();
    for (service, path) in &files.versions {
        let Some(content) = input.source.files.get(path) else {
            continue;
        };
        let old_content = input.head.files.get(&version_path(&t.target, service));
        if old_content != Some(content) {
            out.push(Candidate {
                service: service.clone(),
                content: content.to_vec(),
                old_content: old_content.map(|c| c.to_vec()),
            });
        }
    }
    out
}

fn waiting(pending: &[String]) -> String {
    if pending.is_empty() {
        String::new()
    } else {
        format!("; waiting: {}", pending.join(", "))
    }
}

/// A timestamp as the API writes it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_check::SourceEnv;
    use slipway_core::status::RolloutStatus;
    use slipway_core::transitions::parse_transitions;

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c1", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn transitions(yaml: &str) -> Vec<Transition> {
        parse_transitions(yaml).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    struct Case {
        t: Transition,
        repo: RepoSnapshot,
        state: TransitionState,
        observation: SourceObservation,
        now: DateTime<Utc>,
        trigger: Trigger,
        override_windows: Option<&'static str>,
    }

    impl Case {
        fn new(rule: &str, files: &[(&str, &str)]) -> Self {
            Case {
                t: transitions(&format!("transitions:\n  {rule}\n")).remove(0),
                repo: snap(files),
                state: TransitionState::default(),
                observation: SourceObservation::NotRequired,
                now: at("2026-11-22T10:00:00Z"),
                trigger: Trigger::Poll,
                override_windows: None,
            }
        }

        fn run(&self) -> Decision {
            evaluate(Input {
                transition: &self.t,
                source: &self.repo,
                head: &self.repo,
                state: &self.state,
                observation: &self.observation,
                now: self.now,
                trigger: self.trigger,
                override_windows: self.override_windows,
                branch: Branch::NotAsked,
            })
        }
    }

    const DEV: &str = "dev: {source: latest, target: dev}";

    #[test]
    fn changed_and_new_services_move_and_services_only_in_the_target_stay() {
        let d = Case::new(
            DEV,
            &[
                ("latest/version/s1.yaml", "version: '42'\n"),
                ("latest/version/s2.yaml", "version: '1'\n"),
                ("latest/version/same.yaml", "version: '7'\n"),
                ("dev/version/s1.yaml", "version: '41'\n"),
                ("dev/version/same.yaml", "version: '7'\n"),
                ("dev/version/only-dev.yaml", "version: '3'\n"),
            ],
        )
        .run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.summary(), "s1 41 → 42, s2 (new) → 1");
        assert_eq!(d.promotions[0].content, b"version: '42'\n");
        assert!(d.pending.is_empty());
        assert_eq!(d.reason, "promoted s1 41 → 42, s2 (new) → 1");
    }

    #[test]
    fn nothing_differs_is_skipped() {
        let d = Case::new(
            DEV,
            &[
                ("latest/version/s1.yaml", "version: '1'\n"),
                ("dev/version/s1.yaml", "version: '1'\n"),
            ],
        )
        .run();
        assert_eq!(d.result, TransitionResult::Skipped);
        assert!(d.reason.starts_with("nothing to promote"), "{}", d.reason);
    }

    #[test]
    fn locked_env_skips_every_service_with_its_reasons() {
        let d = Case::new(
            DEV,
            &[
                ("latest/version/s1.yaml", "version: '2'\n"),
                ("dev/locks.yaml", "env_lock: {reasons: [release freeze]}\n"),
            ],
        )
        .run();
        assert_eq!(d.result, TransitionResult::Skipped);
        assert_eq!(d.reason, "target env dev is locked: release freeze");
        assert_eq!(d.skipped[0].reason, "env dev is locked: release freeze");
        assert_eq!(d.pending, vec!["s1"]);
    }

    #[test]
    fn locked_service_is_held_back_while_others_move() {
        let d = Case::new(
            DEV,
            &[
                ("latest/version/s1.yaml", "version: '2'\n"),
                ("latest/version/s2.yaml", "version: '2'\n"),
                ("dev/version/s1.yaml", "version: '1'\n"),
                ("dev/locks.yaml", "resource_locks:\n  s1: {reasons: [incident 4711]}\n"),
            ],
        )
        .run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.summary(), "s2 (new) → 2");
        assert_eq!(
            d.skipped,
            vec![SkippedService {
                service: "s1".into(),
                reason: "locked in dev: incident 4711".into()
            }]
        );
        assert_eq!(d.pending, vec!["s1"]);
    }

    #[test]
    fn invalid_source_version_file_is_not_copied() {
        let d = Case::new(
            DEV,
            &[
                ("latest/version/s1.yaml", "version: [\n"),
                ("latest/version/s2.yaml", "version: '2'\n"),
            ],
        )
        .run();
        assert_eq!(d.summary(), "s2 (new) → 2");
        assert!(
            d.skipped[0].reason.contains("latest/version/s1.yaml"),
            "{:?}",
            d.skipped
        );
    }

    #[test]
    fn manual_transition_waits_for_a_manual_run() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, manual: true}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Skipped);
        assert!(d.reason.starts_with("manual"), "{}", d.reason);
        assert_eq!(d.pending, vec!["s1"]);
        case.trigger = Trigger::Manual;
        assert_eq!(case.run().result, TransitionResult::Success);
    }

    #[test]
    fn manual_transition_with_approvals_shows_it_awaits_them_between_runs() {
        let case = Case::new(
            "prod: {source: pp, target: prod, manual: true, approvals: 1}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Skipped);
        assert_eq!(d.state, PromotionState::AwaitingApproval);
        assert!(d.reason.contains("awaiting approval: 0 of 1"), "{}", d.reason);
        assert_eq!(d.would_ship.len(), 1);
        let up_to_date = Case::new("prod: {source: pp, target: prod, manual: true, approvals: 1}", &[]);
        assert_eq!(up_to_date.run().state, PromotionState::UpToDate);
    }

    #[test]
    fn source_precondition_blocks_only_when_something_would_move() {
        let mut case = Case::new(
            "pp: {source: dev, target: pp, preconditions: [SourceClean]}",
            &[("dev/version/s1.yaml", "version: '2'\n")],
        );
        case.observation = SourceObservation::Env(SourceEnv {
            status: RolloutStatus::InProgress,
            reason: String::new(),
            clean_since: None,
            deployer_commit: Some("c1".into()),
            promoted_commit: "c1".into(),
            position: crate::source_check::Position::AtOrPast,
        });
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Blocked);
        assert_eq!(d.pending, vec!["s1"]);
        assert!(d.promotions.is_empty());
        case.repo = snap(&[
            ("dev/version/s1.yaml", "version: '2'\n"),
            ("pp/version/s1.yaml", "version: '2'\n"),
        ]);
        assert_eq!(case.run().result, TransitionResult::Skipped);
    }

    #[test]
    fn scheduled_transition_before_at_and_after_its_time() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        case.now = at("2026-11-22T08:00:00Z");
        let first = case.run();
        assert_eq!(first.result, TransitionResult::Skipped);
        assert_eq!(first.reason, "not due: next run at 2026-11-22T09:00:00Z; waiting: s1");
        case.state
            .transitions
            .insert("prod".into(), first.schedule.clone().unwrap());

        case.now = at("2026-11-22T08:59:59Z");
        assert_eq!(case.run().result, TransitionResult::Skipped);
        case.now = at("2026-11-22T09:00:00Z");
        let due = case.run();
        assert_eq!(due.result, TransitionResult::Success);
        assert_eq!(due.next_scheduled(), Some(at("2026-11-23T09:00:00Z")));
        case.now = at("2026-11-22T15:00:00Z");
        let late = case.run();
        assert_eq!(late.result, TransitionResult::Success, "a missed time still runs once");
        assert_eq!(late.next_scheduled(), Some(at("2026-11-23T09:00:00Z")));
    }

    #[test]
    fn blocked_scheduled_run_stays_pending() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, preconditions: [SourceClean], schedule: \"0 0 9 * * *\"}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        let entry = ScheduleState {
            next_due: Some(at("2026-11-22T09:00:00Z")),
            schedule: Some("0 0 9 * * *".into()),
        };
        case.state.transitions.insert("prod".into(), entry.clone());
        case.observation = SourceObservation::Unavailable("connection refused".into());
        let d = case.run();
        assert_eq!(d.result, TransitionResult::CheckFailed);
        assert_eq!(d.schedule, Some(entry));
        assert!(
            d.reason
                .starts_with("scheduled run due since 2026-11-22T09:00:00Z is pending"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn manual_run_ignores_the_schedule_and_keeps_its_state() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        let entry = ScheduleState {
            next_due: Some(at("2026-11-23T09:00:00Z")),
            schedule: Some("0 0 9 * * *".into()),
        };
        case.state.transitions.insert("prod".into(), entry);
        case.trigger = Trigger::Manual;
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.schedule, None, "nothing waits for the schedule after the promotion");
        assert_eq!(d.next_scheduled(), Some(at("2026-11-23T09:00:00Z")));
    }

    #[test]
    fn manual_run_that_is_blocked_keeps_the_schedule_state() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, preconditions: [SourceClean], schedule: \"0 0 9 * * *\"}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        let entry = ScheduleState {
            next_due: Some(at("2026-11-23T09:00:00Z")),
            schedule: Some("0 0 9 * * *".into()),
        };
        case.state.transitions.insert("prod".into(), entry.clone());
        case.observation = SourceObservation::Unavailable("connection refused".into());
        case.trigger = Trigger::Manual;
        let d = case.run();
        assert_eq!(d.result, TransitionResult::CheckFailed);
        assert_eq!(d.schedule, Some(entry));
    }

    #[test]
    fn scheduled_transition_with_nothing_to_move_keeps_no_state() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}",
            &[
                ("pp/version/s1.yaml", "version: '2'\n"),
                ("prod/version/s1.yaml", "version: '2'\n"),
            ],
        );
        for now in ["2026-11-22T08:00:00Z", "2026-11-22T09:00:00Z", "2026-11-22T09:00:30Z"] {
            case.now = at(now);
            let d = case.run();
            assert_eq!(d.result, TransitionResult::Skipped, "{now}");
            assert_eq!(d.schedule, None, "{now}: nothing waits, so nothing is stored");
            assert_eq!(d.state, PromotionState::UpToDate);
        }
        assert_eq!(case.run().next_scheduled(), Some(at("2026-11-23T09:00:00Z")));
        // A stored entry whose change is gone (promoted by hand) is dropped.
        case.state.transitions.insert(
            "prod".into(),
            ScheduleState {
                next_due: Some(at("2026-11-23T09:00:00Z")),
                schedule: Some("0 0 9 * * *".into()),
            },
        );
        assert_eq!(case.run().schedule, None);
    }

    #[test]
    fn a_held_service_is_no_reason_to_keep_schedule_state() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}",
            &[
                ("pp/version/s1.yaml", "version: '2'\n"),
                ("prod/locks.yaml", "resource_locks:\n  s1: {reasons: [rolled back]}\n"),
            ],
        );
        case.now = at("2026-11-22T09:00:00Z");
        let d = case.run();
        assert_eq!(d.schedule, None);
        assert_eq!(d.state, PromotionState::Pending);
    }

    #[test]
    fn holds_in_the_target_show_whatever_the_schedule_says() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}",
            &[
                ("pp/version/s1.yaml", "version: '2'\n"),
                ("pp/version/s2.yaml", "version: '2'\n"),
                ("prod/version/s2.yaml", "version: '1'\n"),
                (
                    "prod/locks.yaml",
                    "resource_locks:\n  s1: {reasons: [rolled back from 2 to 1 by alice]}\n  quiet: {reasons: [incident 4711]}\n",
                ),
            ],
        );
        case.now = at("2026-11-22T08:00:00Z");
        let d = case.run();
        assert!(d.reason.starts_with("not due"), "{}", d.reason);
        let holds: Vec<(&str, &str)> = d
            .holds
            .iter()
            .map(|h| (h.service.as_str(), h.reason.as_str()))
            .collect();
        assert_eq!(
            holds,
            [
                ("quiet", "held: incident 4711"),
                ("s1", "held: rolled back from 2 to 1 by alice")
            ]
        );
        assert_eq!(d.skipped[0].service, "s1");
        assert_eq!(d.would_ship.len(), 1);
        assert_eq!(d.would_ship[0].service, "s2");
        let manual = Case::new(
            "prod: {source: pp, target: prod, manual: true}",
            &[
                ("pp/version/s1.yaml", "version: '2'\n"),
                ("prod/locks.yaml", "resource_locks:\n  s1: {reasons: [held]}\n"),
            ],
        )
        .run();
        assert_eq!(manual.holds[0].reason, "held: held");
    }

    const APPROVED_PROD: &str = "prod: {source: pp, target: prod, approvals: 2}";

    fn approvals_file(case: &Case, by: &[&str]) -> String {
        let d = case.run();
        let mut a = Approvals::default();
        for who in by {
            a.approve(
                "prod",
                d.pending_set.as_deref().unwrap(),
                "",
                Verdict {
                    by: who.to_string(),
                    at: at("2026-11-22T09:00:00Z"),
                    reason: None,
                },
            );
        }
        a.to_yaml()
    }

    #[test]
    fn approvals_wait_until_enough_distinct_people_approved_the_exact_set() {
        let pp = ("pp/version/s1.yaml", "version: '2'\n");
        let mut case = Case::new(APPROVED_PROD, &[pp]);
        let d = case.run();
        assert_eq!(d.state, PromotionState::AwaitingApproval);
        assert_eq!(d.result, TransitionResult::Blocked);
        assert!(
            d.reason
                .starts_with("awaiting approval: 0 of 2 (none yet) for s1 (new) → 2"),
            "{}",
            d.reason
        );
        assert_eq!(d.would_ship[0].new, "2");

        let one = approvals_file(&case, &["alice"]);
        case.repo = snap(&[pp, ("prod/approvals.yaml", &one)]);
        let d = case.run();
        assert_eq!(d.state, PromotionState::AwaitingApproval);
        assert_eq!(d.approved_by, ["alice"]);

        let two = approvals_file(&case, &["alice", "bob"]);
        case.repo = snap(&[pp, ("prod/approvals.yaml", &two)]);
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.approved_by, ["alice", "bob"]);

        // A new version in the source: the two approvals were for another set.
        case.repo = snap(&[("pp/version/s1.yaml", "version: '3'\n"), ("prod/approvals.yaml", &two)]);
        let d = case.run();
        assert_eq!(d.state, PromotionState::AwaitingApproval);
        assert!(d.approved_by.is_empty());
    }

    #[test]
    fn a_rejection_is_shown_and_keeps_it_waiting() {
        let pp = ("pp/version/s1.yaml", "version: '2'\n");
        let mut case = Case::new(APPROVED_PROD, &[pp]);
        let digest = case.run().pending_set.unwrap();
        let mut a = Approvals::default();
        a.reject(
            "prod",
            &digest,
            "",
            Verdict {
                by: "bob".into(),
                at: at("2026-11-22T09:00:00Z"),
                reason: Some("waits for the schema change".into()),
            },
        );
        let text = a.to_yaml();
        case.repo = snap(&[pp, ("prod/approvals.yaml", &text)]);
        let d = case.run();
        assert_eq!(d.state, PromotionState::AwaitingApproval);
        assert!(
            d.reason.contains("rejected by bob: waits for the schema change"),
            "{}",
            d.reason
        );
        assert_eq!(d.rejected.unwrap().by, "bob");
    }

    const FROZEN_PROD: &str =
        "prod: {source: pp, target: prod, windows: [{deny: \"0 0 18 * * Fri\", duration: 64h, reason: weekend freeze}]}";

    #[test]
    fn deny_window_freezes_until_its_end_and_then_promotes_the_newest() {
        let mut case = Case::new(FROZEN_PROD, &[("pp/version/s1.yaml", "version: '2'\n")]);
        case.now = at("2026-11-28T12:00:00Z"); // Saturday
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Blocked);
        assert_eq!(d.state, PromotionState::Frozen);
        assert_eq!(d.frozen_until, Some(at("2026-11-30T10:00:00Z")));
        assert!(d.reason.starts_with("frozen: inside deny window"), "{}", d.reason);
        assert!(d.reason.contains("weekend freeze"), "{}", d.reason);
        assert!(d.reason.contains("until 2026-11-30T10:00:00Z"), "{}", d.reason);
        assert!(d.promotions.is_empty());
        assert_eq!(d.would_ship[0].new, "2");
        // More versions queue up; when the window ends, the newest moves in one run.
        case.repo = snap(&[("pp/version/s1.yaml", "version: '4'\n")]);
        case.now = at("2026-11-30T10:00:00Z");
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.summary(), "s1 (new) → 4");
        assert_eq!(d.state, PromotionState::UpToDate);
    }

    #[test]
    fn manual_run_is_frozen_too_unless_it_overrides_with_a_reason() {
        let mut case = Case::new(FROZEN_PROD, &[("pp/version/s1.yaml", "version: '2'\n")]);
        case.now = at("2026-11-28T12:00:00Z");
        case.trigger = Trigger::Manual;
        let d = case.run();
        assert_eq!(d.state, PromotionState::Frozen);
        assert!(d.reason.contains("override_windows"), "{}", d.reason);
        case.override_windows = Some("incident 4711 hotfix");
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Success);
        let o = d.overridden.clone().unwrap();
        assert_eq!(o.reason, "incident 4711 hotfix");
        assert!(o.closed.contains("weekend freeze"), "{}", o.closed);
        assert!(d.reason.contains("windows overridden"), "{}", d.reason);
        // A poll never overrides.
        case.trigger = Trigger::Poll;
        assert_eq!(case.run().state, PromotionState::Frozen);
    }

    #[test]
    fn an_override_while_the_windows_are_open_records_nothing() {
        let mut case = Case::new(FROZEN_PROD, &[("pp/version/s1.yaml", "version: '2'\n")]);
        case.now = at("2026-11-26T12:00:00Z"); // Thursday
        case.trigger = Trigger::Manual;
        case.override_windows = Some("just in case");
        let d = case.run();
        assert_eq!(d.result, TransitionResult::Success);
        assert_eq!(d.overridden, None);
    }

    #[test]
    fn allow_windows_in_a_named_zone_follow_its_clock_across_dst() {
        let mut case = Case::new(
            "prod: {source: pp, target: prod, windows: [{allow: \"0 0 9 * * *\", duration: 2h, timezone: Europe/Berlin}]}",
            &[("pp/version/s1.yaml", "version: '2'\n")],
        );
        // Summer time: 09:00 in Berlin is 07:00 UTC.
        case.now = at("2026-10-24T07:30:00Z");
        assert_eq!(case.run().result, TransitionResult::Success);
        case.now = at("2026-10-24T06:30:00Z");
        assert_eq!(case.run().frozen_until, Some(at("2026-10-24T07:00:00Z")));
        // Winter time from 2026-10-25: 09:00 in Berlin is 08:00 UTC.
        case.now = at("2026-10-26T07:30:00Z");
        let d = case.run();
        assert_eq!(d.state, PromotionState::Frozen);
        assert!(d.reason.contains("outside every allow window"), "{}", d.reason);
        assert_eq!(d.frozen_until, Some(at("2026-10-26T08:00:00Z")));
        case.now = at("2026-10-26T08:30:00Z");
        assert_eq!(case.run().result, TransitionResult::Success);
    }

    #[test]
    fn windows_do_not_matter_when_nothing_would_move() {
        let mut case = Case::new(
            FROZEN_PROD,
            &[
                ("pp/version/s1.yaml", "version: '2'\n"),
                ("prod/version/s1.yaml", "version: '2'\n"),
            ],
        );
        case.now = at("2026-11-28T12:00:00Z");
        let d = case.run();
        assert_eq!(d.state, PromotionState::UpToDate);
        assert_eq!(d.frozen_until, None);
    }
}
