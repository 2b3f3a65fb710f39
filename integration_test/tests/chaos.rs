//! Chaos: 3 deployers (sharded through Leases), 2 transitioners (one leader),
//! 3 aggregators (active-active) against one simulated cluster and one repo
//! over smart HTTP. CI posts 5 versions a second while, every 3–8 s, one random
//! replica is SIGKILLed and restarted. Then: every 201 is in the repo, every env
//! is Clean at the head with the last version posted, no promotion is committed
//! twice, no two deployers wrote to one env's namespace at overlapping times (the
//! simulated cluster's write log), and each kill's failover (until no Lease names
//! the dead replica) is under twice the lease duration.
//!
//! Deterministic-ish: the kills follow a seeded RNG; the seed is printed, and
//! `CHAOS_SEED=N` replays a run's choice of victims and pauses.
//! `CHAOS_UNSHARDED=1` runs the same harness with one unsharded deployer (to
//! exercise it where deployer shards are not available).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use integration_test::client::{service_env, wait_for, Api};
use integration_test::example::ExampleRepo;
use integration_test::ha::{leases_to_take_over, taken_over, HaOptions, HaStack, Role};
use rand::{Rng as _, SeedableRng as _};
use slipway_core::status::{DeployerStatus, RolloutStatus};

/// How long versions are posted and replicas killed.
const CHAOS_FOR: Duration = Duration::from_secs(70);
/// Posts per second.
const POST_RATE: u32 = 5;

/// One kill: who, when, what it held, and how long until others held it.
struct Kill {
    identity: String,
    at: DateTime<Utc>,
    held: Vec<String>,
    failover: Arc<Mutex<Option<Duration>>>,
}

/// `(transition, service, new version)` of every promotion commit's lines (`web: 1.0 → 1.1`).
fn promotions(log: &[(String, String, String)]) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (id, _, message) in log {
        if !message.lines().any(|l| l.trim() == "Slipway-Action: promotion") {
            continue;
        }
        let transition = message
            .lines()
            .find_map(|l| l.strip_prefix("Slipway-Transition: "))
            .unwrap_or_default()
            .trim()
            .to_string();
        for line in message.lines().skip(1) {
            if line.starts_with("Changelog") {
                break;
            }
            let Some((service, change)) = line.split_once(": ") else {
                continue;
            };
            let Some((_, new)) = change.split_once(" → ") else {
                continue;
            };
            if service.contains(char::is_whitespace) || new.contains(char::is_whitespace) {
                continue;
            }
            out.push((id.clone(), transition.clone(), service.to_string(), new.to_string()));
        }
    }
    out
}

async fn deployer_status(url: &str) -> Result<DeployerStatus> {
    Ok(reqwest::get(format!("{url}/status"))
        .await?
        .error_for_status()?
        .json()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_killed_at_random_lose_nothing_and_never_overlap() -> Result<()> {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let unsharded = std::env::var("CHAOS_UNSHARDED").is_ok_and(|v| v == "1");
    println!("chaos seed {seed} (CHAOS_SEED={seed} replays the victims and pauses)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir()?;
    let example = ExampleRepo {
        with_deployable: false,
        last_schedule: None,
        ..ExampleRepo::default()
    };
    let mut opts = HaOptions::new(&dir.path().join("stack"), example.clone());
    opts.transitioners = 2;
    opts.aggregators = 3;
    if unsharded {
        opts.deployers = 1;
    } else {
        opts.deployers = 3;
        opts.sharded = true;
    }
    let lease_duration = opts.lease.duration;
    let mut stack = HaStack::start(opts).await?;
    let api = Api::new(&stack.aggregators.url(), &stack.token);
    let deployers = stack.deployers.url();

    // Everything deployed before the chaos starts.
    wait_for(Duration::from_secs(120), "every env Clean before the chaos", || async {
        let s = deployer_status(&deployers).await?;
        let clean = s.envs.len() == example.envs.len() && s.envs.values().all(|e| e.status == RolloutStatus::Clean);
        Ok(if clean {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                s.envs.values().map(|e| (&e.env, e.status)).collect::<Vec<_>>()
            ))
        })
    })
    .await?;
    stack.sim.reset_writes();

    // CI: POST_RATE versions a second, alternating services, each post in a task of its own.
    let answered: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let refused = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let ci = {
        let (api, answered, refused, services) =
            (api.clone(), answered.clone(), refused.clone(), example.services.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / POST_RATE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let started = Instant::now();
            let mut posts = Vec::new();
            let mut n = 0usize;
            while started.elapsed() < CHAOS_FOR {
                tick.tick().await;
                n += 1;
                let (api, answered, refused) = (api.clone(), answered.clone(), refused.clone());
                let service = services[n % services.len()].clone();
                let version = format!("1.1.{n}");
                posts.push(tokio::spawn(async move {
                    match api.post_version("latest", &service, &version, "chaos").await {
                        Ok((201, body)) => answered.lock().unwrap().push((
                            service,
                            version,
                            body["commit"].as_str().unwrap_or_default().to_string(),
                        )),
                        Ok((code, _)) => *refused.lock().unwrap().entry(code.to_string()).or_default() += 1,
                        Err(e) => {
                            let kind = match e.downcast_ref::<reqwest::Error>() {
                                Some(r) if r.is_timeout() => "timeout".to_string(),
                                Some(r) if r.is_connect() => "cannot connect".to_string(),
                                _ => format!("{e:#}").chars().take(120).collect(),
                            };
                            *refused.lock().unwrap().entry(kind).or_default() += 1
                        }
                    }
                }));
            }
            for p in posts {
                let _ = p.await;
            }
            n
        })
    };

    // Chaos: every 3–8 s one random replica is killed and started again under a new name.
    let started = Instant::now();
    let mut kills: Vec<(Role, Kill)> = Vec::new();
    let mut measurers = Vec::new();
    while started.elapsed() + Duration::from_secs(8) < CHAOS_FOR {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(3000..=8000))).await;
        let victim = rng.gen_range(0..stack.replicas.len());
        let replica = &mut stack.replicas[victim];
        let identity = replica.identity();
        let held = leases_to_take_over(&stack.sim.url(), &identity).await?;
        let (at, since) = (Utc::now(), Instant::now());
        replica.kill();
        let failover = Arc::new(Mutex::new(None));
        let (sim_url, dead, lost, out) = (stack.sim.url(), identity.clone(), held.clone(), failover.clone());
        measurers.push(tokio::spawn(async move {
            *out.lock().unwrap() = taken_over(&sim_url, &dead, &lost, since, lease_duration * 4).await;
        }));
        let role = replica.role;
        tokio::task::block_in_place(|| replica.restart())?;
        kills.push((
            role,
            Kill {
                identity,
                at,
                held,
                failover,
            },
        ));
    }
    let posted = ci.await?;
    for m in measurers {
        m.await?;
    }

    // Converged: every env Clean at the head, each service in every env at its version in
    // `latest` (the post that landed last, which need not be the last one sent).
    let answered = answered.lock().unwrap().clone();
    let services = example.services.clone();
    let converge = Instant::now();
    wait_for(
        Duration::from_secs(90),
        "every env Clean at the head with the last versions",
        || async {
            let head = stack.repo.head().unwrap_or_default();
            let s = deployer_status(&deployers).await?;
            let state = api.state().await?;
            let mut behind = Vec::new();
            for e in s.envs.values() {
                if e.commit.as_deref() != Some(head.as_str()) || e.status != RolloutStatus::Clean {
                    behind.push(format!("{} {:?} at {:?}", e.env, e.status, e.commit));
                }
                for service in &services {
                    let version = |env: &str| service_env(&state, service, env).and_then(|v| v["version"].as_str());
                    if version(&e.env) != version("latest") {
                        behind.push(format!(
                            "{service} in {} at {:?}, latest at {:?}",
                            e.env,
                            version(&e.env),
                            version("latest")
                        ));
                    }
                }
            }
            Ok(if behind.is_empty() {
                Ok(())
            } else {
                Err(format!("head {head}: {}", behind.join("; ")))
            })
        },
    )
    .await?;
    let converged_in = converge.elapsed();

    // Figures.
    let refused = refused.lock().unwrap().clone();
    println!(
        "posted {posted} versions in {CHAOS_FOR:?}: {} answered 201, others {refused:?}; converged {:.1} s after the last post",
        answered.len(),
        converged_in.as_secs_f64()
    );
    println!("| kill | replica | at | held Leases | failover |\n|---|---|---|---|---|");
    for (i, (role, k)) in kills.iter().enumerate() {
        let failover = match (*k.failover.lock().unwrap(), k.held.is_empty(), role) {
            (_, true, Role::Aggregator) => "none needed (active-active)".to_string(),
            (_, true, _) => "none needed (held no Lease)".to_string(),
            (Some(d), false, _) => format!("{:.2} s", d.as_secs_f64()),
            (None, false, _) => "NOT taken over".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {failover} |",
            i + 1,
            k.identity,
            k.at.format("%H:%M:%S%.3f"),
            k.held.len()
        );
    }

    // Every 201 is in the repo.
    let log = stack.repo.log();
    let ids: BTreeSet<&str> = log.iter().map(|(id, _, _)| id.as_str()).collect();
    let lost: Vec<&(String, String, String)> = answered.iter().filter(|(_, _, c)| !ids.contains(c.as_str())).collect();
    if !lost.is_empty() {
        bail!("{} commits answered 201 are not in the repo: {lost:?}", lost.len());
    }
    // Posts in flight to a replica that is killed fail, and a loaded machine times some out;
    // a quarter answered proves the check above is not vacuous.
    if answered.len() < posted / 4 {
        bail!("only {} of {posted} posts answered 201: {refused:?}", answered.len());
    }

    // No promotion committed twice.
    let promoted = promotions(&log);
    if promoted.is_empty() {
        bail!("no promotion commit in the repo");
    }
    let mut seen: BTreeMap<(&str, &str, &str), &str> = BTreeMap::new();
    for (id, transition, service, version) in &promoted {
        if let Some(first) = seen.insert((transition, service, version), id) {
            bail!("{service} {version} promoted twice by transition {transition}: {first} and {id}");
        }
    }
    println!(
        "{} promotions in {} commits, none duplicated",
        promoted.len(),
        promoted.iter().map(|p| &p.0).collect::<BTreeSet<_>>().len()
    );

    // No two deployers wrote to one namespace at overlapping times.
    let writes = stack.sim.writes();
    let ended: BTreeMap<String, DateTime<Utc>> = kills.iter().map(|(_, k)| (k.identity.clone(), k.at)).collect();
    let overlaps = writes.overlaps(&ended);
    for ((writer, namespace), n) in writes.counts() {
        println!("writes by {writer} to {namespace}: {n}");
    }
    if !overlaps.is_empty() {
        bail!(
            "{} overlaps:\n{}",
            overlaps.len(),
            overlaps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        );
    }
    if writes.writes.is_empty() {
        bail!("no deployer wrote during the chaos: the overlap check proves nothing");
    }
    if !unsharded {
        let unnamed: BTreeSet<&str> = writes
            .writes
            .iter()
            .map(|w| w.writer.as_str())
            .filter(|w| !w.starts_with("deployer-"))
            .collect();
        if !unnamed.is_empty() {
            bail!("writes not named by a deployer replica (no x-slipway-replica header?): {unnamed:?}");
        }
    }

    // Failover under twice the lease duration.
    let slow: Vec<String> = kills
        .iter()
        .filter(|(_, k)| !k.held.is_empty())
        .filter_map(|(_, k)| match *k.failover.lock().unwrap() {
            Some(d) if d < lease_duration * 2 => None,
            other => Some(format!("{}: {other:?}", k.identity)),
        })
        .collect();
    if !slow.is_empty() {
        bail!("failover not within 2 × {lease_duration:?}: {slow:?}");
    }
    if kills.is_empty() {
        bail!("nothing was killed");
    }
    stack.stop().await;
    Ok(())
}

#[test]
fn promotion_lines_are_read_from_the_commit_message() {
    let message = "Promote latest → dev: web 1.0 → 1.1, api (new) → 2\n\nweb: 1.0 → 1.1\napi: (new) → 2\n\nChangelog of web:\n  abc subject: x → y\n\nSlipway-Action: promotion\nSlipway-Transition: dev\nSlipway-Env: dev\n";
    let log = vec![
        ("c1".to_string(), "t".to_string(), message.to_string()),
        ("c2".to_string(), "t".to_string(), "web: 1 → 2\n".to_string()),
    ];
    let found = promotions(&log);
    let found: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|(_, t, s, v)| (t.as_str(), s.as_str(), v.as_str()))
        .collect();
    assert_eq!(found, [("dev", "web", "1.1"), ("dev", "api", "2")]);
}
