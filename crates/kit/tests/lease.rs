//! Leader election against the simulated cluster: two contenders for one
//! Lease, release on shutdown, takeover after the holder dies.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use slipway_kit::clock::SystemClock;
use slipway_kit::lease::{elect, Election, LeaseSettings};
use slipway_simcluster::{SimCluster, SimConfig};
use tokio_util::sync::CancellationToken;

fn settings() -> LeaseSettings {
    LeaseSettings {
        duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(100),
        ..LeaseSettings::default()
    }
}

fn contender(api: &Api<Lease>, me: &str) -> (Election, CancellationToken) {
    let shutdown = CancellationToken::new();
    let address = Some(format!("http://{me}.example:8080"));
    let election = elect(
        api.clone(),
        "leader",
        me,
        address,
        &settings(),
        SystemClock::shared(),
        shutdown.clone(),
    )
    .unwrap();
    (election, shutdown)
}

/// Waits (generously) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn holder(api: &Api<Lease>) -> Option<String> {
    api.get("leader").await.unwrap().spec.unwrap().holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_contenders_leads_and_the_other_sees_who() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let (a, _stop_a) = contender(&api, "a");
    let (b, _stop_b) = contender(&api, "b");
    until("one leads", || a.leadership.leads() || b.leadership.leads()).await;
    until("the other has read the lease", || {
        let (la, lb) = (a.leadership.leader().unwrap(), b.leadership.leader().unwrap());
        la.identity.is_some() && la.identity == lb.identity
    })
    .await;
    // For a while, never two leaders (a loaded machine may delay a renewal past
    // the deadline, leaving none for a moment, which is safe).
    for _ in 0..20 {
        assert!(!(a.leadership.leads() && b.leadership.leads()), "two leaders");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until("one leads", || a.leadership.leads() || b.leadership.leads()).await;
    let (leader, follower) = if a.leadership.leads() { (&a, &b) } else { (&b, &a) };
    let seen = follower.leadership.leader().unwrap();
    assert_eq!(seen.identity.as_deref(), leader.leadership.identity());
    assert!(!seen.me && seen.since.is_some() && seen.renew_time.is_some());
    let address = format!("http://{}.example:8080", leader.leadership.identity().unwrap());
    assert_eq!(
        seen.address.as_deref(),
        Some(address.as_str()),
        "the holder says where it answers"
    );
    assert!(leader.leadership.leader().unwrap().me);
    assert_eq!(holder(&api).await.as_deref(), leader.leadership.identity());
    let err = follower.leadership.check().unwrap_err().to_string();
    assert!(err.contains("holds the lease"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once_and_a_dead_holders_after_it_expires() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let (a, stop_a) = contender(&api, "a");
    until("a leads", || a.leadership.leads()).await;
    let (b, _stop_b) = contender(&api, "b");
    until("b sees a", || {
        b.leadership.leader().and_then(|l| l.identity).as_deref() == Some("a")
    })
    .await;

    // Shutdown: a releases, so b does not wait for the 2 s expiry.
    stop_a.cancel();
    a.task.await.unwrap();
    assert!(!a.leadership.leads());
    let released_lease = api.get("leader").await.unwrap();
    let released = released_lease.spec.unwrap();
    if released.holder_identity.is_none() {
        assert_eq!(
            released_lease.metadata.annotations, None,
            "a released lease names no address"
        );
    }
    assert!(
        released.holder_identity.is_none() || released.holder_identity.as_deref() == Some("b"),
        "{released:?}"
    );
    until("b leads", || b.leadership.leads()).await;
    let taken = api.get("leader").await.unwrap().spec.unwrap();
    assert_eq!(taken.holder_identity.as_deref(), Some("b"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert_eq!(taken.lease_duration_seconds, Some(2));

    // b dies without releasing (its task is stopped dead); c takes over only
    // once b's last renewal is a lease duration old.
    let (c, _stop_c) = contender(&api, "c");
    until("c sees b", || {
        c.leadership.leader().and_then(|l| l.identity).as_deref() == Some("b")
    })
    .await;
    b.task.abort();
    let _ = b.task.await;
    let last_renewal = api.get("leader").await.unwrap().spec.unwrap().renew_time.unwrap().0;
    until("c leads", || c.leadership.leads()).await;
    let spec = api.get("leader").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("c"));
    assert_eq!(spec.lease_transitions, Some(2));
    let acquired = spec.acquire_time.unwrap().0;
    assert!(
        acquired.as_millisecond() - last_renewal.as_millisecond() >= 2000,
        "c took over at {acquired}, before b's claim from {last_renewal} expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_carry_each_replicas_field_manager() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let (a, _stop) = contender(&api, "replica-a");
    until("a leads", || a.leadership.leads()).await;
    let lease = api.get("leader").await.unwrap();
    let managers: Vec<String> = lease
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["slipway-lease/replica-a"]);
}
