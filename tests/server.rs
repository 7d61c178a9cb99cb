//! The HTTP service, driven over real HTTP: each test starts the built `clustermatch serve` on an
//! ephemeral loopback port over its own index and talks to it with a real client (ureq).
//!
//! Behaviours checked:
//! 1. every endpoint answers with the documented shape, and `POST /match` gives the same JSON as
//!    `clustermatch match --format json`;
//! 2. every response of every test validates against the OpenAPI document the server serves
//!    (objects made strict: no undocumented field passes);
//! 3. bad requests (malformed, oversize, too deep, unknown fields, wrong types, out-of-range
//!    values, invalid profiles) get a 4xx JSON error naming the field, and invalid writes store
//!    nothing;
//! 4. writes need the bearer token when one is set, reads do not; a public address without a
//!    token is refused;
//! 5. reads keep being answered during writes, never with a half-written state;
//! 6. SIGTERM finishes the request in flight, then the server exits 0;
//! 7. `POST /batch` plans an event from stored ids and inline profiles: the agenda keeps every
//!    rule, equals the CLI's `agenda.json`, and bad shapes, ids and requests get located 4xx.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_clustermatch");

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles.jsonl")
}

/// A fresh index holding the fixture profiles.
fn fixture_index() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let engine = clustermatch::Engine::open_or_create(&dir.path().join("index")).unwrap();
    let profiles = clustermatch::input::read_profiles(&fixtures()).unwrap();
    engine.upsert(&profiles).unwrap();
    dir
}

/// A running server process.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    log_rx: Mutex<Receiver<String>>,
    agent: ureq::Agent,
    doc: Value,
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

impl Server {
    fn start(index: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["--no-config", "--index"])
            .arg(index)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("CLUSTERMATCH_TOKEN")
            .env("RUST_LOG", "info,tower_http=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        if first.is_empty() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the server did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let base = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, log_rx) = channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut server = Server {
            child,
            base,
            log,
            log_rx: Mutex::new(log_rx),
            agent,
            doc: Value::Null,
        };
        let doc = server.call("GET", "/openapi.json", None, &[]);
        assert_eq!(doc.status, 200);
        server.doc = doc.body;
        server
    }

    /// Sends a request (JSON body when given) and checks the answer against the document.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let answer = raw_call(&self.agent, &self.base, method, path, body, headers);
        if !self.doc.is_null() {
            check_against_doc(&self.doc, method, path, &answer);
        }
        answer
    }

    fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, &[])
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(&body.to_string()), &[])
    }

    fn put(&self, path: &str, body: &Value, token: Option<&str>) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        self.call("PUT", path, Some(&body.to_string()), &headers)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn raw_call(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let url = format!("{base}{path}");
    let mut req = ureq::http::Request::builder().method(method).uri(&url);
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("Content-Type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = match body {
        Some(b) => agent.run(req.body(b.to_string()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let text = response
        .into_body()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path} -> {status}: not JSON ({e}): {text}"));
    Answer { status, body }
}

/// The documented path template of a concrete path.
fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    match path.strip_prefix("/profiles/") {
        Some(rest) if !rest.is_empty() && !rest.contains('/') => "/profiles/{id}".into(),
        _ => path.to_string(),
    }
}

/// Adds `additionalProperties: false` to every object schema with properties, so that an
/// undocumented field in a response fails validation.
fn strict(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, child) in map.iter_mut() {
                strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// Validates an answer against the response schema the document gives for its route and status
/// (the error schema for routes outside the document).
fn check_against_doc(doc: &Value, method: &str, path: &str, answer: &Answer) {
    let op = &doc["paths"][template(path)][method.to_lowercase()];
    let schema = if op.is_object() {
        let response = &op["responses"][answer.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path}: status {} is not documented; body {}",
            answer.status,
            answer.body
        );
        response["content"]["application/json"]["schema"].clone()
    } else if path == "/openapi.json" {
        return;
    } else {
        assert!(
            answer.status >= 400,
            "{method} {path} answered outside the document"
        );
        json!({"$ref": "#/components/schemas/ErrorBody"})
    };
    assert!(
        schema.is_object(),
        "{method} {path}: no schema for {}",
        answer.status
    );
    let mut components = doc["components"].clone();
    strict(&mut components);
    let mut root = schema;
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = components;
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&answer.body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} -> {}: response does not match the document: {errors:#?}\n{}",
        answer.status,
        answer.body
    );
}

fn error_of(a: &Answer) -> (&str, Option<&str>) {
    let e = &a.body["error"];
    (e["code"].as_str().unwrap_or_default(), e["field"].as_str())
}

fn gen_profile(i: usize, version: &str) -> Value {
    let country = ["FR", "DE", "ES", "IT", "NL"][i % 5];
    json!({
        "id": format!("gen-{i:04}"),
        "name": format!("Generated {i} {version}"),
        "country": country,
        "description": format!("zeolite catalyst membranes for hydrogen separation, line {i}"),
        "keywords": ["zeolite", "catalyst"],
    })
}

#[test]
fn every_endpoint_answers_with_the_documented_shape() {
    let dir = fixture_index();
    let server = Server::start(&dir.path().join("index"), &[], &[]);

    let paths: BTreeSet<String> = server.doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<String> = [
        "/health",
        "/sectors",
        "/match",
        "/profiles",
        "/profiles/{id}",
        "/batch",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(paths, expected);
    assert!(server.doc["components"]["securitySchemes"]["bearer"].is_object());

    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let n = health.body["profiles"].as_u64().unwrap();
    assert!(n > 100, "{n}");

    let sectors = server.get("/sectors");
    assert_eq!(sectors.status, 200);
    assert!(sectors.body["sectors"].as_array().unwrap().len() >= 51);
    assert!(sectors.body["ecosystems"].as_array().unwrap().len() >= 14);

    let by_id = server.post("/match", &json!({"id": "lyonbiopole", "top": 5}));
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    let matches = by_id.body["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 5);
    assert_eq!(by_id.body["query"]["id"], "lyonbiopole");
    assert!(matches.iter().all(|m| m["id"] != "lyonbiopole"));
    assert!(!matches[0]["reasons"].as_array().unwrap().is_empty());

    let by_text = server.post(
        "/match",
        &json!({"text": "water management and flood protection", "targets": ["CN"], "top": 3,
                "filters": {"kinds": ["cluster"], "min_score": 0.0}, "weights": {"text": 0.8},
                "explain": true}),
    );
    assert_eq!(by_text.status, 200, "{}", by_text.body);
    assert_eq!(by_text.body["matches"].as_array().unwrap().len(), 3);
    assert!(by_text.body["matches"][0]["explanation"].is_object());
    let w = &by_text.body["query"]["weights"];
    let ratio = w["text"].as_f64().unwrap() / w["sector"].as_f64().unwrap();
    assert!(
        (ratio - 0.8 / clustermatch::Weights::default().sector as f64).abs() < 1e-3,
        "request weights applied: {w}"
    );

    let stored = server.get("/profiles/lyonbiopole");
    assert_eq!(stored.status, 200);
    assert_eq!(stored.body["id"], "lyonbiopole");
    let mut outside = stored.body.clone();
    outside["id"] = json!("lyon-copy");
    let by_profile = server.post("/match", &json!({"profile": outside, "top": 3}));
    assert_eq!(by_profile.status, 200, "{}", by_profile.body);
    assert_eq!(by_profile.body["query"]["name"], stored.body["name"]);

    let put = server.put(
        "/profiles",
        &json!({"id": "new-one", "name": "New One", "country": "fr", "sectors": ["biotech"],
                "description": "biobanks and clinical trials"}),
        None,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["added"], 1);
    assert_eq!(put.body["total"].as_u64().unwrap(), n + 1);
    let new_one = server.get("/profiles/new-one");
    assert_eq!(new_one.body["country"], "FR", "validated like a file");
    assert_eq!(new_one.body["sectors"], json!(["biopharmaceuticals"]));

    let many = server.put(
        "/profiles",
        &json!([gen_profile(1, "v1"), gen_profile(2, "v1")]),
        None,
    );
    assert_eq!(many.status, 200, "{}", many.body);
    assert_eq!(many.body["added"], 2);

    let deleted = server.call("DELETE", "/profiles/new-one", None, &[]);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["deleted"], 1);
    let gone = server.get("/profiles/new-one");
    assert_eq!(gone.status, 404);
    assert_eq!(error_of(&gone), ("unknown_id", Some("id")));
}

#[test]
fn match_answers_equal_the_cli_json() {
    let dir = fixture_index();
    let index = dir.path().join("index");
    let server = Server::start(&index, &[], &[]);
    let http = server.post("/match", &json!({"id": "lyonbiopole", "top": 7}));
    assert_eq!(http.status, 200);
    let cli = Command::new(BIN)
        .args(["--no-config", "--index"])
        .arg(&index)
        .args([
            "match",
            "--id",
            "lyonbiopole",
            "--top",
            "7",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(http.body, cli);
}

#[test]
fn bad_requests_get_json_errors_naming_the_field() {
    let dir = fixture_index();
    let server = Server::start(&dir.path().join("index"), &[], &["--max-body", "65536"]);
    let post = |body: &str| server.call("POST", "/match", Some(body), &[]);

    let a = post(r#"{"id": "lyonbiopole", "top": 5"#);
    assert_eq!((a.status, error_of(&a).0), (400, "invalid_json"));
    let a = post("");
    assert_eq!((a.status, error_of(&a).0), (400, "invalid_json"));
    let a = post(r#"{"id": "lyonbiopole", "topp": 5}"#);
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("unknown_field", Some("topp")))
    );
    assert_eq!(a.body["error"]["suggestion"], "top");
    let a = post(r#"{"id": "lyonbiopole", "filters": {"countrys": ["CN"]}}"#);
    assert_eq!(error_of(&a), ("unknown_field", Some("filters.countrys")));
    assert_eq!(a.body["error"]["suggestion"], "countries");
    let a = post(r#"{"id": "lyonbiopole", "weights": {"txt": 1}}"#);
    assert_eq!(error_of(&a), ("unknown_field", Some("weights.txt")));
    let a = post(r#"{"id": "lyonbiopole", "top": "five"}"#);
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("invalid_request", Some("top")))
    );
    let a = post(r#"{"id": "lyonbiopole", "top": 0}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("top")));
    let a = post(r#"{"id": "lyonbiopole", "top": 100000}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("top")));
    let a = post(r#"{"id": "lyonbiopole", "filters": {"kinds": ["clustr"]}}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("filters.kinds[0]")));
    assert_eq!(a.body["error"]["suggestion"], "cluster");
    let a = post(r#"{"id": "lyonbiopole", "filters": {"min_score": 2}}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("filters.min_score")));
    let a = post(r#"{"id": "lyonbiopole", "filters": {"countries": ["Frnce"]}}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("filters.countries")));
    let a = post(r#"{"id": "lyonbiopole", "weights": {"text": -1}}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("weights.text")));
    let a = post(r#"{"text": "water", "country": "Frnce"}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("country")));
    assert_eq!(a.body["error"]["suggestion"], "FR");
    let a = post(r#"{"text": "water", "sectors": ["biopharma"]}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("sectors")));
    let a = post(r#"{"id": "lyonbiopole", "text": "water"}"#);
    assert_eq!(error_of(&a), ("invalid_request", Some("text")));
    let a = post(r#"{"top": 3}"#);
    assert_eq!((a.status, error_of(&a)), (400, ("invalid_request", None)));
    let a = post(r#"{"id": "lyonbiopol"}"#);
    assert_eq!((a.status, error_of(&a)), (404, ("unknown_id", Some("id"))));
    assert_eq!(a.body["error"]["suggestion"], "lyonbiopole");
    let a = post(r#"{"profile": {"id": "x", "name": "X", "country": "ZZ"}}"#);
    assert_eq!(
        (a.status, error_of(&a)),
        (422, ("invalid_profile", Some("profile.country")))
    );
    let a = post(r#"[1, 2]"#);
    assert_eq!(a.status, 400);
    let deep = format!("{{\"id\": {}1{}}}", "[".repeat(100), "]".repeat(100));
    let a = post(&deep);
    assert_eq!((a.status, error_of(&a).0), (400, "invalid_json"));
    let a = server.call(
        "POST",
        "/match",
        Some(r#"{"id": "lyonbiopole"}"#),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!((a.status, error_of(&a).0), (415, "unsupported_media_type"));
    let big = json!({"text": "x".repeat(100_000)}).to_string();
    let a = post(&big);
    assert_eq!((a.status, error_of(&a).0), (413, "payload_too_large"));

    let a = server.get("/nowhere");
    assert_eq!((a.status, error_of(&a).0), (404, "not_found"));
    let a = server.call("GET", "/match", None, &[]);
    assert_eq!((a.status, error_of(&a).0), (405, "method_not_allowed"));

    // PUT: every problem is reported with its array index, and nothing is stored.
    let mut bad = gen_profile(2, "v1");
    bad["country"] = json!("Frnce");
    bad["sectorz"] = json!(["biotech"]);
    let a = server.put("/profiles", &json!([gen_profile(1, "v1"), bad, 7]), None);
    assert_eq!(
        (a.status, error_of(&a).0),
        (422, "invalid_profile"),
        "{}",
        a.body
    );
    let fields: Vec<&str> = a.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["[2]"],
        "non-objects are reported first: {}",
        a.body
    );
    let a = server.put("/profiles", &json!([gen_profile(1, "v1"), bad]), None);
    assert_eq!(a.status, 422, "{}", a.body);
    let fields: Vec<&str> = a.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["[1].country", "[1].sectorz"], "{}", a.body);
    assert_eq!(error_of(&a).1, Some("[1].country"));
    assert_eq!(
        server.get("/profiles/gen-0001").status,
        404,
        "all or nothing"
    );
    let a = server.put(
        "/profiles",
        &json!({"id": "Bad Id", "name": "X", "country": "FR"}),
        None,
    );
    assert_eq!(error_of(&a), ("invalid_profile", Some("id")));
    let a = server.put("/profiles", &json!([]), None);
    assert_eq!(error_of(&a), ("invalid_request", None));
    let a = server.call("DELETE", "/profiles/nobody", None, &[]);
    assert_eq!((a.status, error_of(&a).0), (404, "unknown_id"));

    // The server is still healthy after all of that.
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn writes_need_the_token_when_one_is_set() {
    let dir = fixture_index();
    let token = "s3cret-token-for-tests";
    let server = Server::start(
        &dir.path().join("index"),
        &[("CLUSTERMATCH_TOKEN", token)],
        &[],
    );
    let p = gen_profile(7, "v1");

    let a = server.put("/profiles", &p, None);
    assert_eq!((a.status, error_of(&a).0), (401, "unauthorized"));
    let a = server.put("/profiles", &p, Some("wrong"));
    assert_eq!((a.status, error_of(&a).0), (401, "unauthorized"));
    let a = server.put("/profiles", &p, Some(&format!("{token}x")));
    assert_eq!(a.status, 401);
    let a = server.call("DELETE", "/profiles/lyonbiopole", None, &[]);
    assert_eq!(a.status, 401);
    assert_eq!(
        server.get("/profiles/lyonbiopole").status,
        200,
        "nothing was deleted"
    );

    let a = server.put("/profiles", &p, Some(token));
    assert_eq!(a.status, 200, "{}", a.body);
    let auth = format!("Bearer {token}");
    let a = server.call(
        "DELETE",
        "/profiles/gen-0007",
        None,
        &[("Authorization", &auth)],
    );
    assert_eq!(a.status, 200, "{}", a.body);

    // Reads stay open.
    assert_eq!(
        server.post("/match", &json!({"id": "lyonbiopole"})).status,
        200
    );
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn writes_are_open_without_a_token_on_loopback_and_public_addresses_need_one() {
    let dir = fixture_index();
    let out = Command::new(BIN)
        .args(["--no-config", "--index"])
        .arg(dir.path().join("index"))
        .args(["serve", "--addr", "0.0.0.0:0"])
        .env_remove("CLUSTERMATCH_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a token") && err.contains("CLUSTERMATCH_TOKEN"),
        "{err}"
    );
}

#[test]
fn reads_go_on_during_writes_and_never_see_half_a_write() {
    let dir = fixture_index();
    let server = Arc::new(Server::start(&dir.path().join("index"), &[], &[]));
    let batch = |v: &str| Value::Array((0..300).map(|i| gen_profile(i, v)).collect());
    assert_eq!(server.put("/profiles", &batch("v0"), None).status, 200);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = BTreeSet::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let a = server.post(
                        "/match",
                        &json!({"text": "zeolite catalyst membranes", "top": 20}),
                    );
                    assert_eq!(a.status, 200, "{}", a.body);
                    let versions: BTreeSet<String> = a.body["matches"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|m| m["name"].as_str())
                        .filter(|name| name.starts_with("Generated "))
                        .filter_map(|name| name.rsplit(' ').next().map(str::to_string))
                        .collect();
                    assert_eq!(versions.len(), 1, "torn result: {versions:?}");
                    seen.extend(versions);
                    let h = server.get("/health");
                    assert_eq!(h.status, 200);
                    n += 1;
                }
                (n, seen)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for v in ["v1", "v2", "v3", "v4"] {
        let a = server.put("/profiles", &batch(v), None);
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["replaced"], 300);
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for r in readers {
        let (n, s) = r.join().unwrap();
        total += n;
        seen.extend(s);
    }
    assert!(total >= 6, "only {total} reads were answered");
    assert!(seen.contains("v0") && seen.contains("v4"), "{seen:?}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let dir = fixture_index();
    let index = dir.path().join("index");
    let mut server = Server::start(&index, &[], &["--max-body", "67108864"]);
    let before = server.get("/health").body["profiles"].as_u64().unwrap();
    let body = Value::Array((0..4000).map(|i| gen_profile(i, "v1")).collect()).to_string();
    let (agent, base) = (server.agent.clone(), server.base.clone());
    let client =
        std::thread::spawn(move || raw_call(&agent, &base, "PUT", "/profiles", Some(&body), &[]));

    // Wait until the server has started on the PUT, then ask it to stop.
    wait_for_log(&server, "the PUT to reach the server", |l| {
        l.contains("method=PUT") && l.contains("started processing request")
    });
    assert_eq!(unsafe { libc::kill(server.pid(), libc::SIGTERM) }, 0);

    let answer = client.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["added"], 4000);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let log = server.log.lock().unwrap().clone();
    let pos = |needle: &dyn Fn(&str) -> bool| log.iter().position(|l| needle(l));
    let shutdown = pos(&|l| l.contains("shutting down")).expect("no shutdown line");
    let finished = pos(&|l| l.contains("method=PUT") && l.contains("finished processing request"))
        .expect("the PUT was not logged as finished");
    assert!(
        shutdown < finished,
        "the PUT finished before the signal: {log:#?}"
    );

    // The write was committed: a new server sees it.
    drop(server);
    let again = Server::start(&index, &[], &[]);
    assert_eq!(
        again.get("/health").body["profiles"].as_u64().unwrap(),
        before + 4000
    );
}

/// Waits (at most a minute) for the next log line that `wanted` accepts.
fn wait_for_log(server: &Server, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = server
            .log_rx
            .lock()
            .unwrap()
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("waited in vain for {what}"));
        if wanted(&line) {
            return line;
        }
    }
}

#[test]
fn the_server_warms_every_snapshot_it_serves() {
    let dir = fixture_index();
    let server = Server::start(&dir.path().join("index"), &[], &[]);
    let warmed = |l: &str| l.contains("warmed the index snapshot");
    let first = wait_for_log(&server, "the first warm-up", warmed);
    assert!(!first.contains(" postings=0 "), "{first}");
    // A write publishes a new snapshot: it is warmed too.
    let body = Value::Array((0..20).map(|i| gen_profile(i, "v1")).collect()).to_string();
    let put = server.call("PUT", "/profiles", Some(&body), &[]);
    assert_eq!(put.status, 200, "{}", put.body);
    wait_for_log(&server, "the new snapshot's warm-up", warmed);
    // Answers are the same as a cold process's (`match_answers_equal_the_cli_json` compares
    // a warmed server with the CLI too).
    let ask = json!({"id": fixture_ids(1)[0], "top": 5});
    let warm = server.post("/match", &ask);
    assert_eq!(warm.status, 200, "{}", warm.body);
    let cold = Server::start(&dir.path().join("index"), &[], &["--warm-postings", "0"]);
    assert_eq!(cold.post("/match", &ask).body, warm.body);
}

/// The first `n` fixture ids.
fn fixture_ids(n: usize) -> Vec<String> {
    std::fs::read_to_string(fixtures())
        .unwrap()
        .lines()
        .take(n)
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A small event: stored profiles by id (one with availability and a cap), two inline
/// profiles, a requested pair and a pair kept apart.
fn small_event(ids: &[String]) -> Value {
    let mut participants: Vec<Value> = ids.iter().map(|id| json!(id)).collect();
    participants[1] = json!({"id": ids[1], "availability": [1, 2, 3], "max_meetings": 2});
    participants.push(json!({
        "id": "delta-nl", "name": "Delta cluster", "country": "NL",
        "sectors": ["environmental_industries"], "target_countries": ["CN"],
        "description": "flood protection, delta technology, wastewater and water management",
        "availability": "1-4", "max_meetings": 3
    }));
    participants.push(json!({
        "id": "biomass-cn", "name": "Biomass China", "country": "CN",
        "sectors": ["environmental_industries"], "target_countries": ["DE", "FR"],
        "description": "biomass boilers, agricultural residues and bioenergy plants"
    }));
    json!({
        "participants": participants,
        "requests": [
            {"a": ids[0], "b": ids[2], "type": "meet", "priority": 2},
            {"a": ids[0], "b": ids[1], "type": "apart", "note": "already partners"}
        ],
        "event": {"name": "Test event", "date": "2026-03-12",
                  "slots": ["09:00-10:40/20m", "14:00-15:00/20m"], "breaks": ["09:40-10:00"],
                  "tables": 3, "min_score": 0.1, "max_meetings": 4}
    })
}

#[test]
fn batch_plans_an_event_from_stored_ids_and_inline_profiles() {
    let dir = fixture_index();
    let index = dir.path().join("index");
    let server = Server::start(&index, &[], &[]);
    let ids = fixture_ids(12);
    let body = small_event(&ids);
    // The request itself matches the documented request body.
    let mut root = server.doc["paths"]["/batch"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]
        .clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = server.doc["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let a = server.post("/batch", &body);
    assert_eq!(a.status, 200, "{}", a.body);
    let agenda = &a.body["agenda"];
    let slots = agenda["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 7, "{slots:?}");
    assert_eq!(slots[2]["start"], "10:00", "the break moves the third slot");
    assert_eq!(agenda["participants"].as_array().unwrap().len(), 14);
    let meetings = agenda["meetings"].as_array().unwrap();
    assert!(meetings.len() >= 10, "{}", meetings.len());

    // The rules hold: one meeting per participant per slot, at most `tables` per slot,
    // availability and caps respected, the pair kept apart never meets.
    let mut busy = BTreeSet::new();
    let mut per_slot = std::collections::BTreeMap::<u64, BTreeSet<u64>>::new();
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for m in meetings {
        let (slot, table) = (m["slot"].as_u64().unwrap(), m["table"].as_u64().unwrap());
        assert!((1..=3).contains(&table), "{m}");
        assert!(
            per_slot.entry(slot).or_default().insert(table),
            "table used twice: {m}"
        );
        for side in ["a", "b"] {
            let id = m[side].as_str().unwrap().to_string();
            assert!(busy.insert((id.clone(), slot)), "{id} twice in slot {slot}");
            *count.entry(id).or_default() += 1;
        }
        let pair = (m["a"].as_str().unwrap(), m["b"].as_str().unwrap());
        assert!(
            pair != (ids[0].as_str(), ids[1].as_str())
                && pair != (ids[1].as_str(), ids[0].as_str()),
            "kept apart but scheduled: {m}"
        );
        if pair.0 == ids[1] || pair.1 == ids[1] {
            assert!(slot <= 3, "outside availability: {m}");
        }
        if pair.0 == "delta-nl" || pair.1 == "delta-nl" {
            assert!(slot <= 4, "outside availability: {m}");
        }
    }
    assert!(per_slot.values().all(|t| t.len() <= 3));
    assert!(count.get(&ids[1]).copied().unwrap_or(0) <= 2);
    assert!(count.get("delta-nl").copied().unwrap_or(0) <= 3);
    assert!(count.values().all(|&c| c <= 4), "{count:?}");
    assert!(count.contains_key("biomass-cn") || count.contains_key("delta-nl"));
    let requested = meetings.iter().any(|m| {
        let pair = [m["a"].as_str().unwrap(), m["b"].as_str().unwrap()];
        pair.contains(&ids[0].as_str()) && pair.contains(&ids[2].as_str())
    });
    assert!(requested, "the requested pair meets");
    let apart = agenda["unscheduled"].as_array().unwrap().iter().find(|u| {
        let pair = [u["a"].as_str().unwrap(), u["b"].as_str().unwrap()];
        pair.contains(&ids[0].as_str()) && pair.contains(&ids[1].as_str())
    });
    if let Some(u) = apart {
        assert_eq!(u["reason"], "kept_apart");
    }

    // Total, bound and their ratio.
    let stats = &agenda["stats"];
    let total: f64 = meetings.iter().map(|m| m["score"].as_f64().unwrap()).sum();
    let (t, b) = (
        stats["total_score"].as_f64().unwrap(),
        stats["upper_bound"].as_f64().unwrap(),
    );
    assert!((t - total).abs() < 1e-3, "{t} vs {total}");
    assert!(t <= b + 1e-6 && b > 0.0, "{t} > {b}");
    assert!((stats["ratio"].as_f64().unwrap() - t / b).abs() < 1e-9);

    // Per-participant agendas list each meeting once for each side, in slot order.
    let by = a.body["by_participant"].as_array().unwrap();
    assert_eq!(by.len(), 14);
    let entries: usize = by
        .iter()
        .map(|p| p["meetings"].as_array().unwrap().len())
        .sum();
    assert_eq!(entries, meetings.len() * 2);
    for p in by {
        let slots: Vec<u64> = p["meetings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["slot"].as_u64().unwrap())
            .collect();
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "{p}");
    }

    // The same event through the CLI gives the same agenda (timings aside).
    let files = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for p in body["participants"].as_array().unwrap() {
        let row = match p {
            Value::String(id) => json!({"id": id}),
            other => other.clone(),
        };
        lines.push_str(&format!("{row}\n"));
    }
    std::fs::write(files.path().join("participants.jsonl"), lines).unwrap();
    let mut requests = String::new();
    for r in body["requests"].as_array().unwrap() {
        requests.push_str(&format!("{r}\n"));
    }
    std::fs::write(files.path().join("requests.jsonl"), requests).unwrap();
    let out = files.path().join("out");
    let cli = Command::new(BIN)
        .args(["--no-config", "--index"])
        .arg(&index)
        .arg("batch")
        .arg("--participants")
        .arg(files.path().join("participants.jsonl"))
        .arg("--requests")
        .arg(files.path().join("requests.jsonl"))
        .args([
            "--slots",
            "09:00-10:40/20m,14:00-15:00/20m",
            "--break",
            "09:40-10:00",
        ])
        .args(["--tables", "3", "--min-score", "0.1", "--max-meetings", "4"])
        .args([
            "--date",
            "2026-03-12",
            "--name",
            "Test event",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let mut from_cli: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("agenda.json")).unwrap()).unwrap();
    let mut from_http = agenda.clone();
    // Timings differ, and the bound's last bits may (summation order); the rest is equal.
    for key in ["upper_bound", "ratio"] {
        let (h, c) = (&from_http["stats"][key], &from_cli["stats"][key]);
        let (h, c) = (h.as_f64().unwrap(), c.as_f64().unwrap());
        assert!(
            (h - c).abs() <= 1e-9 * c.abs().max(1.0),
            "stats.{key}: {h} vs {c}"
        );
    }
    for key in ["seconds", "upper_bound", "ratio"] {
        from_cli["stats"][key] = Value::Null;
        from_http["stats"][key] = Value::Null;
    }
    assert_eq!(from_http, from_cli);

    // Against the whole index, recommendations may name organisations not at the event.
    let mut wide = body.clone();
    wide["against_index"] = json!(true);
    let a = server.post("/batch", &wide);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["agenda"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["at_event"] == false));
}

#[test]
fn batch_errors_name_the_field() {
    let dir = fixture_index();
    let server = Server::start(
        &dir.path().join("index"),
        &[],
        &["--max-participants", "20"],
    );
    let ids = fixture_ids(12);
    let event = small_event(&ids);
    let with = |path: &[&str], value: Value| {
        let mut body = event.clone();
        let mut at = &mut body;
        for p in path {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        *at = value;
        server.post("/batch", &body)
    };

    let a = with(&["event", "slots", "1"], json!("14:00-15:00"));
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("invalid_request", Some("event.slots[1]"))),
        "{}",
        a.body
    );
    let a = with(&["event", "slots", "1"], json!("09:30-11:00/20m"));
    assert_eq!(
        error_of(&a),
        ("invalid_request", Some("event.slots")),
        "{}",
        a.body
    );
    let a = with(&["event", "breaks", "0"], json!("9-10"));
    assert_eq!(error_of(&a), ("invalid_request", Some("event.breaks[0]")));
    let a = with(&["event", "tables"], json!(0));
    assert_eq!(error_of(&a), ("invalid_request", Some("event.tables")));
    let a = with(&["event", "min_score"], json!(3));
    assert_eq!(error_of(&a), ("invalid_request", Some("event.min_score")));
    let a = with(&["event", "slots"], json!([]));
    assert_eq!(error_of(&a), ("invalid_request", Some("event.slots")));
    let a = with(&["event", "tabels"], json!(3));
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("unknown_field", Some("event.tabels")))
    );
    assert_eq!(a.body["error"]["suggestion"], "tables");

    // Participants: unknown stored id, bad availability, invalid inline profile, duplicates.
    let mut typo = ids[3].clone();
    typo.pop();
    let a = with(&["participants", "3"], json!(typo));
    assert_eq!(
        (a.status, error_of(&a)),
        (404, ("unknown_id", Some("participants[3]"))),
        "{}",
        a.body
    );
    assert_eq!(a.body["error"]["suggestion"], ids[3].as_str());
    let a = with(
        &["participants", "3"],
        json!({"id": typo, "max_meetings": 1}),
    );
    assert_eq!(error_of(&a), ("unknown_id", Some("participants[3].id")));
    let a = with(&["participants", "1", "availability"], json!([1, 30]));
    assert_eq!(
        (a.status, error_of(&a)),
        (
            422,
            ("invalid_profile", Some("participants[1].availability"))
        ),
        "{}",
        a.body
    );
    let a = with(&["participants", "12", "country"], json!("Nederland"));
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(error_of(&a).1, Some("participants[12].country"));
    let a = with(&["participants", "12", "sectorz"], json!(["water"]));
    assert_eq!(
        error_of(&a).1,
        Some("participants[12].sectorz"),
        "{}",
        a.body
    );
    let a = with(&["participants", "4"], json!(ids[0]));
    assert_eq!(error_of(&a), ("invalid_request", Some("participants[4]")));
    let a = with(&["participants", "4"], json!(7));
    assert_eq!(error_of(&a), ("invalid_request", Some("participants[4]")));
    let many: Vec<Value> = fixture_ids(21).into_iter().map(Value::String).collect();
    let a = with(&["participants"], json!(many));
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("invalid_request", Some("participants")))
    );
    assert!(a.body["error"]["message"].as_str().unwrap().contains("20"));
    let a = with(&["participants"], json!([]));
    assert_eq!(error_of(&a), ("invalid_request", Some("participants")));

    // Requests: a non-participant, a wrong type, a pair both requested and kept apart.
    let a = with(&["requests", "1", "b"], json!("nobody-here"));
    assert_eq!(
        (a.status, error_of(&a)),
        (400, ("invalid_request", Some("requests[1].b"))),
        "{}",
        a.body
    );
    let a = with(&["requests", "0", "type"], json!("meat"));
    assert_eq!(error_of(&a), ("invalid_request", Some("requests[0].type")));
    assert_eq!(a.body["error"]["suggestion"], "meet");
    let a = with(&["requests", "1", "b"], json!(ids[2]));
    assert_eq!(
        error_of(&a),
        ("invalid_request", Some("requests[1].type")),
        "{}",
        a.body
    );
    let a = with(&["requests", "0", "when"], json!("morning"));
    assert_eq!(error_of(&a), ("unknown_field", Some("requests[0].when")));

    assert_eq!(server.get("/health").status, 200);
}
