//! How long a poll takes on repos of growing size: one with nothing to promote
//! (the common case, every poll), and one promoting every service at once.
//!
//! `cargo bench -p slipway-transitioner` prints a table; nothing is asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_transitioner::{Config, ManualClock, Transitioner};

fn fixture(services: usize) -> git_fixture::TempRepo {
    let mut yaml = String::from(
        "commits:\n  - message: setup\n    files:\n      transitions.yaml: \"transitions:\\n  dev: {source: latest, target: dev}\\n  pp: {source: dev, target: pp}\\n  prod: {source: pp, target: prod, schedule: '0 0 9 * * *'}\\n\"\n",
    );
    for i in 0..services {
        for env in ["latest", "dev", "pp", "prod"] {
            yaml.push_str(&format!(
                "      {env}/version/team-{}/s{i}.yaml: \"version: '1'\\nimage: reg/s{i}:1\\n\"\n",
                i % 10
            ));
        }
    }
    git_fixture::temp(&yaml).expect("fixture builds")
}

async fn transitioner(repo: &git_fixture::TempRepo, checkout: &str) -> Transitioner {
    let config = Config::new(repo.url(), repo.scratch(checkout));
    let clock = Arc::new(ManualClock::new(
        "2026-11-22T10:00:00Z".parse().expect("valid timestamp"),
    ));
    Transitioner::new(&config.repo, None, clock)
        .await
        .expect("checkout opens")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    println!("| services per env | idle poll (median of 10) | promote every service (one run) |");
    println!("|---:|---:|---:|");
    for services in [10, 100, 1000] {
        let repo = fixture(services);
        let t = transitioner(&repo, "checkout").await;
        t.run_all().await.expect("first run");
        let mut idle = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            t.run_all().await.expect("idle run");
            idle.push(start.elapsed());
        }
        let files: Vec<(String, Option<String>)> = (0..services)
            .map(|i| {
                (
                    format!("latest/version/team-{}/s{i}.yaml", i % 10),
                    Some(format!("version: '2'\nimage: reg/s{i}:2\n")),
                )
            })
            .collect();
        repo.commit_as("ci", "every service 2", &files).expect("commit");
        let start = Instant::now();
        let outcomes = t.run_all().await.expect("promotion run");
        let promote = start.elapsed();
        assert_eq!(outcomes[0].1.decision.promotions.len(), services);
        println!("| {services} | {} | {} |", ms(median(idle)), ms(promote));
    }
}
