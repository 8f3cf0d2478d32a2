//! The scripted mock API of the controller tests: a tower-test service behind a real
//! `kube::Client`. It answers lists and watches from the objects a test puts in, keeps watches
//! open so the test can feed events, records every request, and stores what the operator writes
//! (and sends it back on the watches, as an API server would) so the next reconcile sees it.
//! It is a fixture, not an API server: no validation, no label selection, no defaulting.

use crate::api::api_path::ApiPath;
use bytes::Bytes;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type MockBody = UnsyncBoxBody<Bytes, Infallible>;

/// A canned failure: the next `times` requests with this method and path get `code`.
#[derive(Clone, Debug)]
struct Fault {
    method: String,
    path: String,
    code: u16,
    times: usize,
    retry_after: u32,
    /// The Status body to answer with; a generic one when absent.
    body: Option<Value>,
}

/// One request the operator made.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// When it arrived.
    pub at: std::time::Instant,
    pub body: Option<Value>,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// Where a request points; metrics.k8s.io's PodMetrics (also called "pods") are kept apart.
fn parse_path(path: &str) -> Option<ApiPath> {
    let mut p = ApiPath::parse(path)?;
    if p.group == "metrics.k8s.io" {
        p.resource = "podmetrics".to_string();
    }
    Some(p)
}

fn list_kind(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "wasmworkloads" => ("wasm-operator.dev/v1alpha1", "WasmWorkloadList"),
        "deployments" => ("apps/v1", "DeploymentList"),
        "services" => ("v1", "ServiceList"),
        "nodes" => ("v1", "NodeList"),
        "pods" => ("v1", "PodList"),
        "runtimeclasses" => ("node.k8s.io/v1", "RuntimeClassList"),
        "podmetrics" => ("metrics.k8s.io/v1beta1", "PodMetricsList"),
        _ => ("v1", "List"),
    }
}

fn meta_str(obj: &Value, field: &str) -> Option<String> {
    obj["metadata"][field].as_str().map(str::to_string)
}

type Key = (String, Option<String>, String);
/// Open watches of one resource: the namespace they are scoped to, and their response stream.
type Watches = Vec<(Option<String>, UnboundedSender<Bytes>)>;

/// The objects and open watches of the mock, and what the operator asked of it.
#[derive(Default)]
pub struct World {
    objects: BTreeMap<Key, Value>,
    watches: HashMap<String, Watches>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    resource_version: u64,
    /// (group, resource, verb) that SelfSubjectAccessReviews answer as not allowed.
    pub denied: Vec<(String, String, String)>,
    /// How pods' apps answer through the API server's pod proxy: given the pod, the path after
    /// `proxy/`, and how many requests reached that pod before, the status code. Unset: only
    /// `/readyz` answers (the operator's own pod, for the doctor).
    pub pod_proxy: Option<PodProxy>,
    proxied: HashMap<String, usize>,
}

/// A scripted app behind the pod proxy.
pub type PodProxy = Arc<dyn Fn(&str, &str, usize) -> u16 + Send + Sync>;

/// The body a v1.36 API server sends when the pod proxy cannot connect to the port yet.
fn proxy_unavailable(pod: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("error trying to reach service: dial tcp 10.88.0.9:8080: connect: connection refused ({pod})"),
           "reason": "ServiceUnavailable", "code": 503})
}

impl World {
    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn broadcast(&mut self, resource: &str, namespace: Option<&str>, type_: &str, obj: &Value) {
        let line = Bytes::from(format!("{}\n", json!({"type": type_, "object": obj})));
        if let Some(watches) = self.watches.get_mut(resource) {
            watches.retain(|(ns, tx)| {
                if ns.is_some() && ns.as_deref() != namespace {
                    return true;
                }
                tx.unbounded_send(line.clone()).is_ok()
            });
        }
    }

    /// Add or replace an object (ADDED or MODIFIED on open watches).
    pub fn put(&mut self, resource: &str, mut obj: Value) {
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv);
        let ns = meta_str(&obj, "namespace");
        let key = (
            resource.to_string(),
            ns.clone(),
            meta_str(&obj, "name").expect("object has a name"),
        );
        let type_ = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.objects.insert(key, obj.clone());
        self.broadcast(resource, ns.as_deref(), type_, &obj);
    }

    /// Remove an object (DELETED on open watches).
    pub fn remove(&mut self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let obj = self
            .objects
            .remove(&(resource.to_string(), namespace.map(str::to_string), name.to_string()))?;
        self.broadcast(resource, namespace, "DELETED", &obj);
        Some(obj)
    }

    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects
            .get(&(resource.to_string(), namespace.map(str::to_string), name.to_string()))
    }

    /// Make the next `times` `method` requests to `path` fail with `code` (and a Retry-After).
    pub fn fail(&mut self, method: &str, path: &str, code: u16, times: usize, retry_after: u32) {
        self.faults.push(Fault {
            method: method.into(),
            path: path.into(),
            code,
            times,
            retry_after,
            body: None,
        });
    }

    /// Make the next `times` `method` requests to `path` fail with this Status body (a real
    /// server's, with its code).
    pub fn fail_with(&mut self, method: &str, path: &str, times: usize, body: Value) {
        self.faults.push(Fault {
            method: method.into(),
            path: path.into(),
            code: body["code"].as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(500),
            times,
            retry_after: 0,
            body: Some(body),
        });
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<(u16, Value)> {
        let f = self
            .faults
            .iter_mut()
            .find(|f| f.method == method && f.path == path && f.times > 0)?;
        f.times -= 1;
        let body = f
            .body
            .clone()
            .unwrap_or_else(|| status_body(f.code, "InjectedFault", f.retry_after));
        Some((f.code, body))
    }

    /// End every open watch of a resource, as when a connection drops.
    pub fn drop_watches(&mut self, resource: &str) {
        self.watches.remove(resource);
    }

    /// Send an ERROR event with `code` on the open watches of a resource (410: resource version
    /// too old), as an API server does before closing them.
    pub fn watch_error(&mut self, resource: &str, code: u16) {
        let line = Bytes::from(format!(
            "{}\n",
            json!({"type": "ERROR", "object": status_body(code, "Expired", 0)})
        ));
        for (_, tx) in self.watches.remove(resource).unwrap_or_default() {
            let _ = tx.unbounded_send(line.clone());
        }
    }

    pub fn requests(&self) -> &[Recorded] {
        &self.requests
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.requests.iter().filter(|r| r.is_write()).cloned().collect()
    }

    fn list(&mut self, t: &ApiPath) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((r, ns, _), _)| r == &t.resource && (t.namespace.is_none() || ns == &t.namespace))
            .map(|(_, v)| v.clone())
            .collect();
        let (api_version, kind) = list_kind(&t.resource);
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": self.resource_version.to_string()}, "items": items})
    }

    /// A JSON merge patch (RFC 7386) of an existing object: lists are replaced whole. Recorded
    /// in managedFields as an `Update` of `manager`; the Apply entries are left as they were.
    fn merge(&mut self, t: &ApiPath, patch: &Value, manager: &str) -> Option<Value> {
        fn merge_into(target: &mut Value, patch: &Value) {
            match (target.as_object_mut(), patch.as_object()) {
                (Some(t), Some(p)) => {
                    for (k, v) in p {
                        if v.is_null() {
                            t.remove(k);
                        } else {
                            merge_into(t.entry(k.clone()).or_insert(Value::Null), v);
                        }
                    }
                }
                _ => *target = patch.clone(),
            }
        }
        let name = t.name.clone().unwrap_or_default();
        let mut obj = self.get(&t.resource, t.namespace.as_deref(), &name)?.clone();
        let managed = obj["metadata"]["managedFields"].take();
        merge_into(&mut obj, patch);
        let mut entries: Vec<Value> = managed.as_array().cloned().unwrap_or_default();
        entries.push(json!({"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {}}));
        obj["metadata"]["managedFields"] = Value::Array(entries);
        self.put(&t.resource, obj);
        self.get(&t.resource, t.namespace.as_deref(), &name).cloned()
    }

    /// Server-side apply, as far as the tests need it: the applied object replaces the spec and
    /// metadata the operator owns, and its fields become the manager's Apply entry in
    /// managedFields; the generation moves when the spec changes; status is kept.
    fn apply(&mut self, t: &ApiPath, body: Value, manager: &str) -> Result<Value, Value> {
        let name = t.name.clone().unwrap_or_default();
        let existing = self.get(&t.resource, t.namespace.as_deref(), &name).cloned();
        let mut obj = body;
        if let Some(kept) = existing.as_ref().map(|e| others_service_ports(e, &obj, manager)) {
            merge_service_ports(&mut obj, kept, &name)?;
        }
        if t.subresource.as_deref() == Some("status") {
            let mut current = existing.unwrap_or_else(|| obj.clone());
            current["status"] = obj["status"].take();
            self.put(&t.resource, current.clone());
            return Ok(self
                .get(&t.resource, t.namespace.as_deref(), &name)
                .cloned()
                .unwrap_or(current));
        }
        let old_generation = existing
            .as_ref()
            .and_then(|e| e["metadata"]["generation"].as_i64())
            .unwrap_or(0);
        let spec_changed = existing.as_ref().map(|e| e["spec"] != obj["spec"]).unwrap_or(true);
        obj["metadata"]["generation"] = json!(if spec_changed {
            old_generation + 1
        } else {
            old_generation
        });
        obj["metadata"]["uid"] = json!(format!("uid-{name}"));
        let fields = crate::api::owned_fields::fields_v1(&obj);
        obj["metadata"]["managedFields"] = json!([{
            "manager": manager, "operation": "Apply", "apiVersion": obj["apiVersion"].clone(),
            "fieldsType": "FieldsV1", "fieldsV1": fields
        }]);
        if let Some(status) = existing.as_ref().map(|e| e["status"].clone()).filter(|s| !s.is_null()) {
            obj["status"] = status;
        }
        self.put(&t.resource, obj);
        Ok(self
            .get(&t.resource, t.namespace.as_deref(), &name)
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// A world with the same objects and no watches or requests: the API server as a
    /// restarted operator finds it.
    pub fn restarted(&self) -> World {
        World {
            objects: self.objects.clone(),
            resource_version: self.resource_version,
            ..World::default()
        }
    }
}

/// The entries of a stored Service's `spec.ports` that the applying manager does not own (by
/// their port/protocol key) and that the applied object does not name: server-side apply keeps
/// them beside the applied ones. Only Services' ports are merged this way here, as the tests need.
fn others_service_ports(existing: &Value, applied: &Value, manager: &str) -> Vec<Value> {
    if existing["kind"] != "Service" {
        return vec![];
    }
    let key = |p: &Value| format!("k:{}", json!({"port": p["port"], "protocol": p["protocol"]}));
    let owned: Vec<String> = existing["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["manager"] == manager && e["operation"] == "Apply")
        .flat_map(|e| {
            e["fieldsV1"]["f:spec"]["f:ports"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    let applied_keys: Vec<String> = applied["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(key)
        .collect();
    existing["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| !owned.contains(&key(p)) && !applied_keys.contains(&key(p)))
        .cloned()
        .collect()
}

/// Put the kept entries before the applied ones and refuse duplicate port names with the body a
/// real API server sends.
fn merge_service_ports(obj: &mut Value, kept: Vec<Value>, name: &str) -> Result<(), Value> {
    if kept.is_empty() {
        return Ok(());
    }
    let mut ports = kept;
    ports.extend(obj["spec"]["ports"].as_array().cloned().unwrap_or_default());
    for (i, p) in ports.iter().enumerate() {
        if ports[..i].iter().any(|q| q["name"] == p["name"]) {
            let field = format!("spec.ports[{i}].name");
            let value = p["name"].as_str().unwrap_or_default();
            return Err(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("Service \"{name}\" is invalid: {field}: Duplicate value: \"{value}\""),
                "reason": "Invalid",
                "details": {"name": name, "kind": "Service", "causes": [
                    {"reason": "FieldValueDuplicate", "message": format!("Duplicate value: \"{value}\""), "field": field}
                ]},
                "code": 422
            }));
        }
    }
    obj["spec"]["ports"] = Value::Array(ports);
    Ok(())
}

/// (pod, path after `proxy/`) of a request through the pod proxy.
fn proxied_pod(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (_, rest) = rest.split_once("/pods/")?;
    let (pod_port, after) = rest.split_once("/proxy")?;
    let pod = pod_port.split(':').next()?;
    Some((pod.to_string(), after.trim_start_matches('/').to_string()))
}

fn respond(code: StatusCode, body: &Value) -> Response<MockBody> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .expect("valid response")
}

fn status_body(code: u16, reason: &str, retry_after: u32) -> Value {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("mock: {reason}"), "reason": reason, "code": code});
    if retry_after > 0 {
        v["details"] = json!({"retryAfterSeconds": retry_after});
    }
    v
}

async fn answer(world: &Mutex<World>, req: Request<Body>) -> Response<MockBody> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                k.to_string(),
                v.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"),
            )
        })
        .collect();
    let (content_type, accept) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (header("content-type"), header("accept"))
    };
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Option<Value> = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap_or(Value::Null));

    let mut w = world.lock().unwrap();
    w.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        content_type,
        accept,
        at: std::time::Instant::now(),
        body: body.clone(),
    });
    if let Some((code, body)) = w.take_fault(&method, &path) {
        return respond(StatusCode::from_u16(code).unwrap(), &body);
    }
    // A pod's app through the API server's proxy, as the test scripts it.
    if let (Some(app), Some((pod, rest))) = (w.pod_proxy.clone(), proxied_pod(&path)) {
        let nth = w.proxied.entry(pod.clone()).or_default();
        let code = app(&pod, &rest, *nth);
        *nth += 1;
        return match code {
            503 => respond(StatusCode::SERVICE_UNAVAILABLE, &proxy_unavailable(&pod)),
            code => Response::builder()
                .status(StatusCode::from_u16(code).unwrap())
                .header("content-type", "text/plain")
                .body(
                    Full::new(Bytes::from(if code == 200 {
                        "Hello from http-hello\n"
                    } else {
                        "not found\n"
                    }))
                    .boxed_unsync(),
                )
                .expect("valid response"),
        };
    }
    // A pod's endpoint through the API server's proxy: the operator's /readyz answers ready.
    if path.ends_with("/proxy/readyz") {
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from("ready")).boxed_unsync())
            .expect("valid response");
    }
    // SelfSubjectAccessReviews: allowed unless the test denied the attributes.
    if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
        let mut review = body.unwrap_or(Value::Null);
        let a = &review["spec"]["resourceAttributes"];
        let resource = match a["subresource"].as_str() {
            Some(sub) => format!("{}/{sub}", a["resource"].as_str().unwrap_or("")),
            None => a["resource"].as_str().unwrap_or("").to_string(),
        };
        let triple = (
            a["group"].as_str().unwrap_or("").to_string(),
            resource,
            a["verb"].as_str().unwrap_or("").to_string(),
        );
        review["status"] = json!({"allowed": !w.denied.contains(&triple)});
        return respond(StatusCode::CREATED, &review);
    }
    if path == "/version" {
        return respond(
            StatusCode::OK,
            &json!({"major": "1", "minor": "36", "gitVersion": "v1.36.2", "platform": "linux/amd64"}),
        );
    }
    let Some(target) = parse_path(&path) else {
        return respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound", 0));
    };
    match (method.as_str(), &target.name) {
        ("GET", None) if query.get("watch").map(String::as_str) == Some("true") => {
            let (tx, rx) = unbounded::<Bytes>();
            w.watches
                .entry(target.resource.clone())
                .or_default()
                .push((target.namespace.clone(), tx));
            let stream = rx.map(|b| Ok::<_, Infallible>(Frame::data(b)));
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(StreamBody::new(stream).boxed_unsync())
                .expect("valid response")
        }
        ("GET", None) => {
            let list = w.list(&target);
            respond(StatusCode::OK, &list)
        }
        ("GET", Some(name)) => match w.get(&target.resource, target.namespace.as_deref(), name).cloned() {
            Some(obj) => respond(StatusCode::OK, &obj),
            None => respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound", 0)),
        },
        ("PATCH", Some(_)) => {
            let manager = query.get("fieldManager").cloned().unwrap_or_default();
            let merge = w
                .requests
                .last()
                .and_then(|r| r.content_type.as_deref())
                .is_some_and(|c| c.starts_with("application/merge-patch+json"));
            if merge {
                return match w.merge(&target, &body.unwrap_or(Value::Null), &manager) {
                    Some(obj) => respond(StatusCode::OK, &obj),
                    None => respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound", 0)),
                };
            }
            match w.apply(&target, body.unwrap_or(Value::Null), &manager) {
                Ok(obj) => respond(StatusCode::OK, &obj),
                Err(status) => respond(StatusCode::UNPROCESSABLE_ENTITY, &status),
            }
        }
        ("POST", None) => {
            let obj = body.unwrap_or(Value::Null);
            if target.resource == "events" {
                return respond(StatusCode::CREATED, &obj);
            }
            let name = meta_str(&obj, "name").unwrap_or_default();
            if w.get(&target.resource, target.namespace.as_deref(), &name).is_some() {
                return respond(StatusCode::CONFLICT, &status_body(409, "AlreadyExists", 0));
            }
            w.put(&target.resource, obj);
            let stored = w
                .get(&target.resource, target.namespace.as_deref(), &name)
                .cloned()
                .unwrap_or_default();
            respond(StatusCode::CREATED, &stored)
        }
        // Replace is optimistic: the resourceVersion sent must be the stored one.
        ("PUT", Some(name)) => {
            let obj = body.unwrap_or(Value::Null);
            let current = w
                .get(&target.resource, target.namespace.as_deref(), name)
                .map(|c| c["metadata"]["resourceVersion"].clone());
            match current {
                Some(rv) if rv == obj["metadata"]["resourceVersion"] => {
                    w.put(&target.resource, obj);
                    let stored = w
                        .get(&target.resource, target.namespace.as_deref(), name)
                        .cloned()
                        .unwrap_or_default();
                    respond(StatusCode::OK, &stored)
                }
                Some(_) => respond(StatusCode::CONFLICT, &status_body(409, "Conflict", 0)),
                None => respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound", 0)),
            }
        }
        ("DELETE", Some(name)) => match w.remove(&target.resource, target.namespace.as_deref(), name) {
            Some(obj) => respond(StatusCode::OK, &obj),
            None => respond(StatusCode::NOT_FOUND, &status_body(404, "NotFound", 0)),
        },
        _ => respond(StatusCode::METHOD_NOT_ALLOWED, &status_body(405, "MethodNotAllowed", 0)),
    }
}

/// A client whose requests the returned world answers.
pub fn client(world: World) -> (kube::Client, Arc<Mutex<World>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<MockBody>>();
    let world = Arc::new(Mutex::new(world));
    let served = world.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            send.send_response(answer(&served, req).await);
        }
    });
    (kube::Client::new(service, "default"), world)
}

/// Wait until `check` holds for the world, or fail the test after `timeout` saying what was awaited.
pub async fn wait_until(world: &Mutex<World>, what: &str, timeout: Duration, check: impl Fn(&World) -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check(&world.lock().unwrap()) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let w = world.lock().unwrap();
            let log: Vec<String> = w.requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
            panic!("timed out waiting for {what}; requests so far:\n{}", log.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_metrics_are_kept_apart_from_pods() {
        assert_eq!(
            parse_path("/apis/metrics.k8s.io/v1beta1/pods").unwrap().resource,
            "podmetrics"
        );
        assert_eq!(parse_path("/api/v1/pods").unwrap().resource, "pods");
    }
}
