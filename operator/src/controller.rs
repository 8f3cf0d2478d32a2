//! The reconcile — observe, plan, render, apply, report — and the Controller that runs it for
//! every WasmWorkload. Each step lives in its stage; this file only strings them together.

use crate::api::crd::WasmWorkload;
use crate::api::stored_workload::StoredWorkload;
use crate::apply::children::apply;
use crate::context::Context;
use crate::decide::discovery::{nodes_per_runtime_class, Readiness};
use crate::decide::plan::plan;
use crate::error::Error;
use crate::observe::gather::observe;
use crate::observe::generation_filter::GenerationFilter;
use crate::observe::watches::{affected, Trigger};
use crate::render::children::children;
use crate::report::comparison_runs::ComparisonRuns;
use crate::report::outcome::{report, Results};
use crate::report::sink::Sink;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{stream, StreamExt, TryStreamExt};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A successful reconcile looks again after this long even if nothing changed.
pub const RESYNC: Duration = Duration::from_secs(3600);
/// How often the resync takes its next share of the workloads.
const RESYNC_TICK: Duration = Duration::from_secs(10);

pub async fn reconcile(stored: Arc<StoredWorkload>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    // The cache keeps the spec and status as text: the typed workload lives for this reconcile.
    let result = match stored.workload() {
        Ok(wl) => reconcile_workload(&wl, &ctx).await,
        Err(source) => Err(Error::Deserialize { source }),
    };
    ctx.metrics
        .observe_reconcile(started.elapsed(), result.as_ref().err().map(Error::category));
    if result.is_ok() {
        ctx.record_success(&ObjectRef::from_obj(stored.as_ref()));
    }
    result
}

async fn reconcile_workload(wl: &WasmWorkload, ctx: &Context) -> Result<Action, Error> {
    let ns = wl.namespace().ok_or_else(|| Error::NoNamespace(wl.name_any()))?;
    if wl.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change()); // garbage collection removes the children
    }
    let observed = observe(&ctx.stores, wl);
    let plan = plan(wl, &observed, &ctx.runtimes, ctx.clock.now());
    let changes = children(wl, &plan, &observed);
    let applied = apply(&ctx.client, &ns, &observed, changes).await?;
    let sink = Sink {
        client: &ctx.client,
        metrics: &ctx.metrics,
        instance: &ctx.instance,
    };
    let results = Results {
        deployment: applied.deployment.as_ref(),
        spill: applied.spill.as_ref(),
        refused: applied.refused.as_ref(),
        put_back: &applied.put_back,
    };
    report(&sink, wl, &plan, &observed, results).await?;
    // The staggered resync (observe::resync) looks again anyway within the hour.
    Ok(plan
        .look_again(applied.refused.is_some())
        .map_or(Action::await_change(), |r| {
            Action::requeue(r.min(RESYNC) + Duration::from_millis(100))
        }))
}

pub fn error_policy(wl: Arc<StoredWorkload>, error: &Error, ctx: Arc<Context>) -> Action {
    // Our own backoff, or longer when the API server asked for it (429 Retry-After).
    let delay = ctx
        .record_failure(ObjectRef::from_obj(wl.as_ref()))
        .max(error.retry_after().unwrap_or_default());
    tracing::warn!(workload = %wl.name_any(), namespace = ?wl.namespace(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// `graceful_shutdown_on` wants a `Sync` future; a boxed one is only `Send`.
struct StopSync(std::sync::Mutex<futures::future::BoxFuture<'static, ()>>);

impl std::future::Future for StopSync {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut fut = self.0.lock().unwrap_or_else(|e| e.into_inner());
        fut.as_mut().poll(cx)
    }
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub namespace: Option<String>,
    pub concurrency: u16,
}

/// Run the controller until it is shut down. `ready` is called once every cache has synced.
/// `stop` ends it gracefully (as SIGTERM and Ctrl-C do): reconciles under way finish first.
pub async fn run(
    ctx: Arc<Context>,
    triggers: UnboundedReceiver<Trigger>,
    settings: Settings,
    ready: impl FnOnce(),
    stop: futures::future::BoxFuture<'static, ()>,
) {
    let stores = ctx.stores.clone();
    // Deciding before the caches are full would fall back for runtimes not yet seen.
    let (synced, (), (), ()) = futures::join!(
        futures::future::try_join3(
            stores.runtime_classes.wait_until_ready(),
            stores.nodes.wait_until_ready(),
            stores.sandbox_events.wait_until_ready(),
        ),
        stores.pods.wait_until_ready(),
        stores.deployments.wait_until_ready(),
        stores.services.wait_until_ready(),
    );
    if synced.is_err() {
        tracing::error!("a watch stopped before its first list; not starting the controller");
        return;
    }
    ready();

    let api = crate::observe::watches::scoped::<StoredWorkload>(&ctx.client, settings.namespace.as_deref());
    let (reader, writer) = reflector::store();
    let metrics = ctx.metrics.clone();
    let cold_starts = ctx.stores.cold_starts.clone();
    let generations = Arc::new(GenerationFilter::default());
    let mut comparisons = ComparisonRuns::new(k8s_openapi::jiff::Timestamp::now());
    let seen = generations.clone();
    let primary = watcher::watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(crate::observe::watches::prune_workload)
        .reflect(writer)
        .inspect(move |ev| match ev {
            Ok(Event::Delete(w)) => {
                let (ns, name) = (w.namespace().unwrap_or_default(), w.name_any());
                metrics.forget_workload(&ns, &name);
                cold_starts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .forget_workload(&ns, &name);
                generations.forget(w);
                comparisons.forget(w);
            }
            // A comparison arrives as a status write, which the generation filter below drops.
            Ok(Event::Apply(w) | Event::InitApply(w)) => {
                if let Some(c) = comparisons.news(w) {
                    metrics.record_comparison(&w.namespace().unwrap_or_default(), &w.name_any(), &c);
                }
            }
            _ => {}
        })
        .applied_objects()
        // Our own status writes do not bump the generation, so they do not come back as work.
        .try_filter(move |w| futures::future::ready(seen.changed(w)));

    let workloads = reader.clone();
    let runtimes = ctx.runtimes.clone();
    let (gauge_stores, gauge_metrics, clock) = (ctx.stores.clone(), ctx.metrics.clone(), ctx.clock.clone());
    let grace = ctx.runtimes.not_ready_grace();
    let update_runtime_nodes = move || {
        let readiness = Readiness {
            now: clock.now(),
            grace,
        };
        let counts = nodes_per_runtime_class(
            &gauge_stores.runtime_classes.state(),
            &gauge_stores.nodes.state(),
            readiness,
        );
        gauge_metrics.set_runtime_nodes(&counts);
    };
    update_runtime_nodes();
    let secondary = triggers.flat_map(move |t| {
        if matches!(t, Trigger::RuntimeClass(_) | Trigger::Nodes) {
            update_runtime_nodes();
        }
        stream::iter(affected(&t, &workloads, &runtimes))
    });

    let resync = crate::observe::resync::staggered(reader.clone(), RESYNC, RESYNC_TICK);
    Controller::for_stream(primary, reader)
        .reconcile_on(stream::select(secondary, resync))
        .with_config(ControllerConfig::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .graceful_shutdown_on(StopSync(std::sync::Mutex::new(stop)))
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile request not run");
            }
        })
        .await;
}
