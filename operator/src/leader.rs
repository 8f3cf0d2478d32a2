//! Leader election with a coordination.k8s.io/v1 Lease, so the chart can run two replicas: only
//! the holder of the Lease reconciles. The holder renews it every third of its duration; another
//! instance takes it over once it has not been renewed for a whole duration; on SIGTERM the
//! holder releases it (empty holder), and a follower, which watches the Lease, takes it the
//! moment it sees that, instead of at its next retry: a rollout's gap without a leader is one
//! watch event and one write. Writes are optimistic (`replace` with the resourceVersion read),
//! so two instances never both win.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::time::Duration;

/// How the election runs.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This instance (the pod name).
    pub identity: String,
    pub duration: Duration,
    /// The operator's own Deployment, as the Lease's owner: deleting the install (helm
    /// uninstall) then garbage-collects the Lease too. None outside a cluster.
    pub owner: Option<OwnerReference>,
}

impl LeaseSettings {
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }
}

/// What to do with the Lease as read now.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// No Lease yet: create it held by us.
    Create,
    /// Ours, or free, or expired: write it held by us (renew or take over).
    Take,
    /// Someone else holds it and renewed it within its duration.
    HeldBy(String),
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// Decide from the Lease as read at `now`. Pure.
pub fn claim(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Claim {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_some() { Claim::Take } else { Claim::Create };
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder == identity {
        return Claim::Take;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let renewed = spec.renew_time.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH);
    if renewed + duration < now {
        Claim::Take
    } else {
        Claim::HeldBy(holder.to_string())
    }
}

/// The Lease as we write it when we hold it (`previous` keeps acquireTime and transitions).
pub fn held(settings: &LeaseSettings, previous: Option<&Lease>, now: Timestamp) -> Lease {
    let prev = previous.and_then(|l| l.spec.clone()).unwrap_or_default();
    let ours = prev.holder_identity.as_deref() == Some(settings.identity.as_str());
    Lease {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            namespace: Some(settings.namespace.clone()),
            resource_version: previous.and_then(|l| l.metadata.resource_version.clone()),
            owner_references: settings
                .owner
                .clone()
                .map(|o| vec![o])
                .or_else(|| previous.and_then(|l| l.metadata.owner_references.clone())),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(settings.identity.clone()),
            lease_duration_seconds: Some(seconds(settings.duration)),
            acquire_time: if ours { prev.acquire_time } else { Some(MicroTime(now)) },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(prev.lease_transitions.unwrap_or(0) + i32::from(!ours && previous.is_some())),
            ..Default::default()
        }),
    }
}

/// The Lease as we leave it on shutdown: no holder, so the next instance takes it at once.
pub fn released(previous: &Lease) -> Lease {
    let mut l = previous.clone();
    if let Some(spec) = l.spec.as_mut() {
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
    }
    l
}

/// One election round: Ok(true) when we hold the Lease after it.
pub async fn try_acquire(api: &Api<Lease>, settings: &LeaseSettings) -> Result<bool, kube::Error> {
    let current = api.get_opt(&settings.name).await?;
    let now = Timestamp::now();
    let outcome = match claim(current.as_ref(), &settings.identity, now) {
        Claim::HeldBy(_) => return Ok(false),
        Claim::Create => api.create(&PostParams::default(), &held(settings, None, now)).await,
        Claim::Take => {
            api.replace(
                &settings.name,
                &PostParams::default(),
                &held(settings, current.as_ref(), now),
            )
            .await
        }
    };
    match outcome {
        Ok(_) => Ok(true),
        // Someone else wrote first (409 on replace, or the Lease appeared on create).
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every change of the Lease as it happens (the watch's first listing is not a change).
fn lease_changes(api: &Api<Lease>, name: &str) -> impl futures::Stream<Item = ()> + Send {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    watcher::watcher(
        api.clone(),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .filter_map(|event| {
        let change = matches!(event, Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)));
        futures::future::ready(change.then_some(()))
    })
}

/// Wait until we hold the Lease: try now, then at each change of the Lease (a release, a
/// deletion, a renewal) or after a retry period, whichever comes first.
pub async fn acquire(api: &Api<Lease>, settings: &LeaseSettings) {
    use futures::StreamExt;
    let mut changes = std::pin::pin!(lease_changes(api, &settings.name));
    loop {
        match try_acquire(api, settings).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "leader election: cannot read or write the Lease"),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.renew_every()) => {}
            Some(()) = changes.next() => {}
        }
    }
}

/// Keep renewing; returns when the Lease is lost (not renewed for a whole duration, or taken).
pub async fn keep(api: &Api<Lease>, settings: &LeaseSettings) {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.renew_every()).await;
        match try_acquire(api, settings).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "leader election: renewal failed");
                if last_renewal.elapsed() >= settings.duration {
                    return;
                }
            }
        }
    }
}

/// Give the Lease up if we still hold it.
pub async fn release(api: &Api<Lease>, settings: &LeaseSettings) {
    if let Ok(Some(current)) = api.get_opt(&settings.name).await {
        let ours = current.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(settings.identity.as_str());
        if ours {
            if let Err(e) = api
                .replace(&settings.name, &PostParams::default(), &released(&current))
                .await
            {
                tracing::warn!(error = %e, "leader election: could not release the Lease");
            }
        }
    }
}

/// Hold the Lease, then run `work` until it ends. Its argument resolves when the work should
/// stop gracefully: the Lease was lost, or `shutdown` resolved. The Lease is released afterwards.
/// A `shutdown` while waiting for the Lease ends the wait.
/// Renewal runs in the same task as the work, so when the task dies both stop.
pub async fn lead<F, Fut>(
    api: Api<Lease>,
    settings: LeaseSettings,
    shutdown: futures::future::BoxFuture<'static, ()>,
    work: F,
) where
    F: FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    tracing::info!(lease = %settings.name, identity = %settings.identity, "waiting to become the leader");
    let shutdown = shutdown.shared();
    tokio::select! {
        () = acquire(&api, &settings) => {}
        () = shutdown.clone() => return,
    }
    tracing::info!(identity = %settings.identity, "became the leader");
    let (lost_tx, lost_rx) = futures::channel::oneshot::channel::<()>();
    let keeping = async {
        keep(&api, &settings).await;
        tracing::warn!("lost the leader Lease; stopping");
        let _ = lost_tx.send(());
        futures::future::pending::<()>().await;
    };
    let stop = futures::future::select(lost_rx.map(|_| ()), shutdown)
        .map(|_| ())
        .boxed();
    tokio::select! {
        () = work(stop) => {}
        () = keeping => {}
    }
    release(&api, &settings).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn settings(identity: &str) -> LeaseSettings {
        LeaseSettings {
            namespace: "ops".into(),
            name: "wasm-operator".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            owner: None,
        }
    }

    #[test]
    fn claims() {
        assert_eq!(claim(None, "a", at(100)), Claim::Create);
        let mine = held(&settings("a"), None, at(100));
        assert_eq!(claim(Some(&mine), "a", at(200)), Claim::Take, "renew our own");
        assert_eq!(claim(Some(&mine), "b", at(110)), Claim::HeldBy("a".into()), "fresh");
        assert_eq!(
            claim(Some(&mine), "b", at(116)),
            Claim::Take,
            "not renewed for a whole duration"
        );
        assert_eq!(claim(Some(&released(&mine)), "b", at(101)), Claim::Take, "released");
    }

    #[test]
    fn holding_keeps_acquire_time_and_counts_transitions() {
        let first = held(&settings("a"), None, at(100));
        let renewed = held(&settings("a"), Some(&first), at(105));
        let s = renewed.spec.unwrap();
        assert_eq!(s.acquire_time.unwrap().0, at(100));
        assert_eq!(s.renew_time.unwrap().0, at(105));
        assert_eq!(s.lease_transitions, Some(0));
        let taken = held(&settings("b"), Some(&first), at(130)).spec.unwrap();
        assert_eq!(
            (taken.holder_identity.as_deref(), taken.lease_transitions),
            (Some("b"), Some(1))
        );
        assert_eq!(taken.acquire_time.unwrap().0, at(130));
        assert_eq!(taken.lease_duration_seconds, Some(15));
    }
}
