//! Security of the HTTP service, driven over real sockets against the built `clustermatch serve`
//! (logging at `RUST_LOG=trace`, its stderr captured). `tests/server.rs` already covers the basic
//! token check, the body limit, the JSON depth, `top` and the participant cap; this file adds:
//!
//! 1. every mutating route (`PUT /profiles`, `DELETE /profiles/{id}`) refuses a missing token, a
//!    wrong one, one differing in its first or last byte, a shorter or longer one, another scheme,
//!    and the token anywhere but the `Authorization` header; nothing changes, and neither the
//!    answers nor the server's log ever contain the configured or a presented token; other
//!    methods on those paths are refused too;
//! 2. a token set in the config file works the same; `clustermatch config` shows it redacted;
//!    a config error (a typo'd `tokn` key, a number as token) never prints the value;
//! 3. hostile bodies (declared or streamed past the size limit, 100,000-deep JSON, huge or
//!    negative `top`, 700,000 filter countries, 300,000 excluded ids, multi-megabyte strings,
//!    100,000 profiles of one `PUT`) get a 4xx and the server's peak memory stays bounded;
//! 4. ids and paths built to escape (`../../etc/passwd`, `%2e%2e%2f`, absolute paths, NUL
//!    bytes, backslashes, 100,000-byte ids) in `GET`/`PUT`/`DELETE /profiles/{id}`, in bodies,
//!    in `/match` and `/batch`, and as request paths never change a file outside the index
//!    directory (a sentinel next to it, the working directory, `/etc/passwd`), never serve a
//!    file's contents, and the only files the server holds open or mapped are in the index
//!    directory (plus its own binary and system libraries);
//! 5. a client that sends its headers and then stalls (or trickles) its body gets `408` within
//!    the configured read timeout and is disconnected, one that sends nothing or half its headers
//!    is disconnected too, and other clients are served meanwhile;
//! 6. a ~900 KB invalid value (a country, a sector, a field name, an id) never comes back whole
//!    in an error: every value an error quotes is cut to 80 characters.
//!
//! The constant-time comparison itself is unit-tested in `src/server/auth.rs` and timed by
//! `benches/token.rs`.

#[path = "support/server.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{gen_profile, Answer, Server, BIN};

const TOKEN: &str = "Zk7q-sec-token-4f1d9a2b8c77e5";

/// A temporary directory holding `index/` (the fixtures), a sentinel file next to it, and a
/// working directory for the server.
struct Site {
    dir: tempfile::TempDir,
    profiles: usize,
}

const SENTINEL: &str = "SENTINEL-5e2c8d-do-not-serve";

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = clustermatch::Engine::open_or_create(&dir.path().join("index")).expect("idx");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles.jsonl");
        let profiles = clustermatch::input::read_profiles(&fixtures).expect("fixtures");
        engine.upsert(&profiles).expect("upsert");
        let profiles = engine.index().len();
        std::fs::write(dir.path().join("sentinel.txt"), SENTINEL).expect("sentinel");
        std::fs::create_dir_all(dir.path().join("cwd/etc")).expect("cwd");
        std::fs::write(dir.path().join("cwd/etc/passwd"), SENTINEL).expect("decoy");
        Site { dir, profiles }
    }

    fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    /// Starts the server in `cwd/`.
    fn serve(&self, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path().join("cwd"))
            .args(["--no-config", "--index"])
            .arg(self.index());
        Server::spawn(cmd, env, args)
    }

    /// Every file and directory outside `index/`, with its size, mtime and contents.
    fn outside(&self) -> BTreeMap<PathBuf, (u64, std::time::SystemTime, Vec<u8>)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let p = e.path();
                if p == self.index() {
                    continue;
                }
                let m = e.metadata().expect("metadata");
                let contents = if m.is_file() {
                    std::fs::read(&p).expect("read")
                } else {
                    stack.push(p.clone());
                    Vec::new()
                };
                out.insert(p, (m.len(), m.modified().expect("mtime"), contents));
            }
        }
        let passwd = Path::new("/etc/passwd");
        if let Ok(m) = passwd.metadata() {
            out.insert(
                passwd.to_path_buf(),
                (m.len(), m.modified().expect("mtime"), Vec::new()),
            );
        }
        out
    }
}

fn json_head(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nContent-Type: application/json{extra}")
}

/// `Authorization` header lines to try, each with the secret-ish text it presents.
fn bad_authorizations() -> Vec<(String, String)> {
    let t = TOKEN.as_bytes();
    let mut last = t.to_vec();
    *last.last_mut().expect("byte") ^= 0x01;
    let mut first = t.to_vec();
    first[0] ^= 0x01;
    let last = String::from_utf8(last).expect("ascii");
    let first = String::from_utf8(first).expect("ascii");
    let shorter = TOKEN[..TOKEN.len() - 1].to_string();
    let longer = format!("{TOKEN}0");
    let much_longer = TOKEN.repeat(40);
    let wrong = "Wq3-totally-wrong-token-presented".to_string();
    let mut v = vec![
        (String::new(), String::new()),
        (format!("\r\nAuthorization: Bearer {last}"), last),
        (format!("\r\nAuthorization: Bearer {first}"), first),
        (format!("\r\nAuthorization: Bearer {shorter}"), shorter),
        (format!("\r\nAuthorization: Bearer {longer}"), longer),
        (
            format!("\r\nAuthorization: Bearer {much_longer}"),
            much_longer,
        ),
        (format!("\r\nAuthorization: Bearer {wrong}"), wrong.clone()),
        ("\r\nAuthorization: Bearer ".to_string(), String::new()),
        (format!("\r\nAuthorization: Basic {TOKEN}"), String::new()),
        (format!("\r\nAuthorization: Token {TOKEN}"), String::new()),
        (format!("\r\nAuthorization: {TOKEN}"), String::new()),
        (format!("\r\nAuthorization: Bearer{TOKEN}"), String::new()),
        (format!("\r\nX-Token: {TOKEN}"), String::new()),
        (format!("\r\nCookie: token={TOKEN}"), String::new()),
    ];
    // The wrong token with a non-ASCII byte, and twice in the header.
    v.push((
        format!("\r\nAuthorization: Bearer {wrong}é"),
        format!("{wrong}é"),
    ));
    v.push((
        format!("\r\nAuthorization: Bearer {wrong}\r\nAuthorization: Bearer {TOKEN}"),
        wrong,
    ));
    v
}

/// Panics when `text` shows the token or a presented secret (of 8 bytes or more).
fn assert_no_secret(text: &str, presented: &str, what: &str) {
    assert!(!text.contains(TOKEN), "{what} shows the token: {text}");
    if presented.len() >= 8 {
        assert!(
            !text.contains(presented),
            "{what} shows the presented token {presented:?}: {text}"
        );
    }
}

#[test]
fn every_write_route_refuses_a_bad_token_and_no_token_is_ever_echoed() {
    let site = Site::new();
    let mut server = site.serve(&[("CLUSTERMATCH_TOKEN", TOKEN)], &[]);
    let put_body = gen_profile(1, "v1").to_string();
    let mut presented_all = Vec::new();
    for (header, presented) in bad_authorizations() {
        let writes = [
            ("PUT", "/profiles".to_string(), put_body.clone()),
            ("DELETE", "/profiles/lyonbiopole".to_string(), String::new()),
            ("PUT", format!("/profiles?token={TOKEN}"), put_body.clone()),
            (
                "DELETE",
                format!("/profiles/lyonbiopole?access_token={TOKEN}"),
                String::new(),
            ),
        ];
        for (method, path, body) in writes {
            let a = server.raw(&json_head(method, &path, &header), body.as_bytes());
            assert_eq!(
                (a.status, a.code().as_str()),
                (401, "unauthorized"),
                "{method} {path} with {header:?}: {}",
                a.full
            );
            assert_no_secret(&a.full, &presented, "the answer");
        }
        presented_all.push(presented);
    }
    // Other methods on the write paths are refused without running anything.
    for (method, path) in [
        ("POST", "/profiles"),
        ("PATCH", "/profiles"),
        ("DELETE", "/profiles"),
        ("PUT", "/profiles/lyonbiopole"),
        ("POST", "/profiles/lyonbiopole"),
        ("PATCH", "/profiles/lyonbiopole"),
    ] {
        let a = server.raw(&json_head(method, path, ""), put_body.as_bytes());
        assert!(
            a.status == 405 || a.status == 404,
            "{method} {path}: {}",
            a.full
        );
    }
    // Nothing changed.
    assert_eq!(
        server.call("GET", "/profiles/gen-0001", None, &[]).status,
        404
    );
    assert_eq!(
        server
            .call("GET", "/profiles/lyonbiopole", None, &[])
            .status,
        200
    );
    let h = server.call("GET", "/health", None, &[]).json();
    assert_eq!(h["profiles"], json!(site.profiles));

    // The right token works on both routes.
    let auth = format!("\r\nAuthorization: Bearer {TOKEN}");
    let a = server.raw(&json_head("PUT", "/profiles", &auth), put_body.as_bytes());
    assert_eq!(a.status, 200, "{}", a.full);
    assert_no_secret(&a.full, "", "the answer");
    let a = server.raw(&json_head("DELETE", "/profiles/gen-0001", &auth), b"");
    assert_eq!(a.status, 200, "{}", a.full);
    let a = server.raw(&json_head("DELETE", "/profiles/no-such-id", &auth), b"");
    assert_eq!(a.status, 404, "{}", a.full);
    assert_no_secret(&a.full, "", "the answer");

    server.stop();
    let log = server.log_text();
    assert!(
        log.contains("status=401") && log.contains("status=200"),
        "the log was captured: {log}"
    );
    for presented in &presented_all {
        assert_no_secret(&log, presented, "the server log");
    }
}

#[test]
fn a_token_from_the_config_file_is_required_and_never_shown() {
    let site = Site::new();
    let config = site.dir.path().join("cwd/clustermatch.toml");
    std::fs::write(&config, format!("[server]\ntoken = \"{TOKEN}\"\n")).expect("config");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(site.dir.path().join("cwd"))
        .arg("--config")
        .arg(&config)
        .arg("--index")
        .arg(site.index());
    let mut server = Server::spawn(cmd, &[], &[]);
    let body = gen_profile(3, "v1").to_string();
    let a = server.call("PUT", "/profiles", Some(&body), &[]);
    assert_eq!(a.status, 401, "{}", a.text);
    let auth = format!("Bearer {TOKEN}");
    let a = server.call("PUT", "/profiles", Some(&body), &[("Authorization", &auth)]);
    assert_eq!(a.status, 200, "{}", a.text);
    server.stop();
    let log = server.log_text();
    assert!(log.contains("token required"), "{log}");
    assert_no_secret(&log, "", "the server log");

    // `clustermatch config` shows the effective config with the token redacted.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .expect("config");
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[server]") && shown.contains("redacted"),
        "{shown}"
    );
    assert_no_secret(&shown, "", "`clustermatch config`");

    // Config errors near the token name the key and the line, never the value.
    for text in [
        format!("[server]\ntokn = \"{TOKEN}\"\n"),
        format!("[server]\ntoken = \"{TOKEN}\"\nadress = \"127.0.0.1:1\"\n"),
        format!("server.tokem = \"{TOKEN}\"\n"),
        format!("[server]\ntoken = [\"{TOKEN}\"]\n"),
        format!("[server]\ntoken = \"{TOKEN}\n"),
        format!("token = \"{TOKEN}\"\n"),
    ] {
        std::fs::write(&config, &text).expect("config");
        for args in [&["serve", "--addr", "127.0.0.1:0"][..], &["config"][..]] {
            let out = Command::new(BIN)
                .arg("--config")
                .arg(&config)
                .arg("--index")
                .arg(site.index())
                .args(args)
                .env("RUST_LOG", "trace")
                .env_remove("CLUSTERMATCH_TOKEN")
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(2), "{text:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("clustermatch.toml:"), "{err}");
            assert_no_secret(&err, "", "a config error");
            assert_no_secret(&String::from_utf8_lossy(&out.stdout), "", "stdout");
        }
    }
    // A number as token is refused without printing it.
    std::fs::write(&config, "[server]\ntoken = 73195520834417\n").expect("config");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("73195520834417"), "{err}");
}

#[test]
fn hostile_bodies_get_a_4xx_and_memory_stays_bounded() {
    let site = Site::new();
    let server = site.serve(&[("RUST_LOG", "info")], &[]);
    let limit = 4 * 1024 * 1024;
    let baseline = server.status_kb("VmRSS");
    let check = |what: &str, a: &Answer, code: &str| {
        assert!(
            (400..500).contains(&a.status),
            "{what}: {} {}",
            a.status,
            &a.text[..a.text.len().min(300)]
        );
        assert_eq!(
            a.code(),
            code,
            "{what}: {}",
            &a.text[..a.text.len().min(300)]
        );
    };

    // Past the size limit: declared up front, or streamed in chunks without a length.
    let big = vec![b' '; limit + 1];
    for (method, path) in [("POST", "/match"), ("PUT", "/profiles"), ("POST", "/batch")] {
        let a = server.raw(&json_head(method, path, ""), &big);
        check(
            &format!("{method} {path} oversize"),
            &a,
            "payload_too_large",
        );
    }
    let a = server.raw_bytes(
        b"POST /match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\nConnection: close\r\n\r\n{}",
    );
    check("a declared terabyte", &a, "payload_too_large");
    let mut chunked = b"PUT /profiles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let piece = vec![b'['; 65536];
    for _ in 0..80 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let a = server.raw_bytes(&chunked);
    check("5 MiB streamed", &a, "payload_too_large");

    // Deep nesting, everywhere a body is read.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"id\":\"x\",\"filters\":{}{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    for (method, path, body) in [
        ("POST", "/match", &deep),
        ("PUT", "/profiles", &deep),
        ("POST", "/batch", &deep),
        ("POST", "/match", &deep_obj),
    ] {
        let a = server.raw(&json_head(method, path, ""), body.as_bytes());
        check(&format!("{method} {path} deep"), &a, "invalid_json");
    }

    // `top` out of range or not a count.
    for top in [
        "1001",
        "1000000000000000000",
        "18446744073709551616",
        "-1",
        "1e400",
        "1.5",
        "null1",
    ] {
        let body = format!("{{\"id\": \"lyonbiopole\", \"top\": {top}}}");
        let a = server.raw(&json_head("POST", "/match", ""), body.as_bytes());
        assert_eq!(a.status, 400, "top {top}: {}", a.text);
    }

    // Huge arrays and strings that fit the body limit.
    let countries: Vec<&str> = vec!["FR"; 700_000];
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "700,000 filter countries",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"countries": countries}}).to_string(),
            "filters.countries",
        ),
        (
            "300,000 excluded ids",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"exclude": vec!["abcdefghij"; 300_000]}})
                .to_string(),
            "filters.exclude",
        ),
        (
            "200,000 filter sectors",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"sectors": vec!["biotech"; 200_000]}})
                .to_string(),
            "filters.sectors",
        ),
        (
            "300,000 filter kinds",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"kinds": vec!["cluster"; 300_000]}})
                .to_string(),
            "filters.kinds",
        ),
        (
            "500,000 query targets",
            "/match",
            json!({"text": "water", "targets": vec!["CN"; 500_000]}).to_string(),
            "targets",
        ),
        (
            "200,000 query sectors",
            "/match",
            json!({"text": "water", "sectors": vec!["biotech"; 200_000]}).to_string(),
            "sectors",
        ),
        (
            "a 3 MB query text",
            "/match",
            json!({"text": "membrane ".repeat(350_000)}).to_string(),
            "text",
        ),
        (
            "a 3 MB id",
            "/match",
            json!({"id": "a".repeat(3_000_000)}).to_string(),
            "id",
        ),
        (
            "a 3 MB country",
            "/match",
            json!({"text": "water", "country": "F".repeat(3_000_000)}).to_string(),
            "country",
        ),
    ];
    for (what, path, body, field) in &cases {
        assert!(body.len() <= limit, "{what} is {} bytes", body.len());
        let a = server.raw(&json_head("POST", path, ""), body.as_bytes());
        assert!(
            (400..500).contains(&a.status),
            "{what}: {} {}",
            a.status,
            &a.text[..a.text.len().min(300)]
        );
        assert_eq!(
            a.json()["error"]["field"],
            json!(field),
            "{what}: {}",
            &a.text[..a.text.len().min(300)]
        );
        assert!(a.text.len() < 10_000, "{what}: the error echoes the input");
    }

    // Writes: a profile with a 3 MB id or name, 100,000 empty objects.
    let mut long = gen_profile(5, "v1");
    long["id"] = json!("a".repeat(3_000_000));
    let a = server.raw(
        &json_head("PUT", "/profiles", ""),
        long.to_string().as_bytes(),
    );
    assert_eq!(a.status, 422, "{}", &a.text[..a.text.len().min(300)]);
    assert!(a.text.len() < 10_000, "the error echoes the input");
    let mut long = gen_profile(5, "v1");
    long["name"] = json!("n".repeat(3_000_000));
    let a = server.raw(
        &json_head("PUT", "/profiles", ""),
        long.to_string().as_bytes(),
    );
    assert_eq!(a.status, 422, "{}", &a.text[..a.text.len().min(300)]);
    let many = format!("[{}{{}}]", "{},".repeat(100_000));
    let a = server.raw(&json_head("PUT", "/profiles", ""), many.as_bytes());
    assert_eq!(a.status, 422, "{}", &a.text[..a.text.len().min(300)]);
    let details = a.json()["error"]["details"].as_array().map_or(0, Vec::len);
    assert!(details <= 100, "{details} problems listed");

    // Still healthy, nothing stored, and memory stayed bounded.
    let h = server.call("GET", "/health", None, &[]).json();
    assert_eq!(h["profiles"], json!(site.profiles));
    let peak = server.status_kb("VmHWM");
    assert!(
        peak < baseline + 256 * 1024,
        "peak RSS {peak} kB from {baseline} kB"
    );
    eprintln!("RSS baseline {baseline} kB, peak {peak} kB");
}

#[test]
fn no_request_reaches_a_file_outside_the_index() {
    let site = Site::new();
    let mut server = site.serve(&[("RUST_LOG", "info")], &[]);
    let before = site.outside();
    let sentinel_abs = site.dir.path().join("sentinel.txt");
    let meta = std::fs::read_to_string(site.index().join("meta.json")).expect("meta");
    let long = "a".repeat(100_000);
    let ids: Vec<String> = vec![
        "../../etc/passwd".into(),
        "../sentinel.txt".into(),
        "..%2Fsentinel.txt".into(),
        "..%2f..%2f..%2fetc%2fpasswd".into(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".into(),
        "%2e%2e/%2e%2e/sentinel.txt".into(),
        "%252e%252e%252fsentinel.txt".into(),
        "..".into(),
        "%2e%2e".into(),
        ".".into(),
        "%2Fetc%2Fpasswd".into(),
        sentinel_abs.display().to_string().replace('/', "%2F"),
        "..%5C..%5Csentinel.txt".into(),
        "etc%2Fpasswd".into(),
        "meta.json".into(),
        ".managed.json".into(),
        "%00".into(),
        "sentinel.txt%00.json".into(),
        "..%00%2Fsentinel.txt".into(),
        "%C0%AE%C0%AE%2Fsentinel.txt".into(),
        long.clone(),
    ];
    let no_file_contents = |what: &str, a: &Answer| {
        for needle in [SENTINEL, "root:x:0:0", "\"opstamp\"", "segments"] {
            assert!(!a.full.contains(needle), "{what} served a file: {}", a.full);
        }
        assert!(!a.full.contains(meta.trim()), "{what} served meta.json");
    };
    for id in &ids {
        for method in ["GET", "DELETE"] {
            let path = format!("/profiles/{id}");
            let a = server.raw(&json_head(method, &path, ""), b"");
            assert!(
                [400, 404, 414].contains(&a.status),
                "{method} {}: {}",
                &path[..path.len().min(80)],
                &a.full[..a.full.len().min(300)]
            );
            no_file_contents(&format!("{method} {id}"), &a);
        }
    }
    // The same strings as ids in bodies.
    let literal: Vec<String> = vec![
        "../../etc/passwd".into(),
        "../sentinel.txt".into(),
        sentinel_abs.display().to_string(),
        "/etc/passwd".into(),
        "..\\..\\sentinel.txt".into(),
        "a\0b".into(),
        "meta.json".into(),
        "./meta.json".into(),
        long.clone(),
    ];
    for id in &literal {
        let mut p = gen_profile(9, "v1");
        p["id"] = json!(id);
        let a = server.call("PUT", "/profiles", Some(&p.to_string()), &[]);
        assert!(
            a.status == 422 || a.status == 200,
            "PUT id {:?}: {}",
            &id[..id.len().min(40)],
            a.text
        );
        no_file_contents("PUT", &a);
        for body in [
            json!({"id": id}),
            json!({"profile": p}),
            json!({"text": id, "filters": {"exclude": [id]}}),
        ] {
            let a = server.call("POST", "/match", Some(&body.to_string()), &[]);
            assert!(a.status < 500, "{}", a.text);
            no_file_contents("POST /match", &a);
        }
        let batch = json!({
            "participants": [id, "lyonbiopole"],
            "event": {"slots": ["09:00-10:00/20m"], "tables": 2}
        });
        let a = server.call("POST", "/batch", Some(&batch.to_string()), &[]);
        assert!(a.status < 500, "{}", a.text);
        no_file_contents("POST /batch", &a);
    }
    // Request paths themselves.
    for path in [
        "/../../etc/passwd",
        "/../sentinel.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2fsentinel.txt",
        "/meta.json",
        "/index/meta.json",
        "/openapi.json/../sentinel.txt",
        "/sectors/..%2f..%2fsentinel.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/profiles/../../../../etc/passwd",
    ] {
        let a = server.raw(&json_head("GET", path, ""), b"");
        assert!(a.status == 404 || a.status == 400, "GET {path}: {}", a.full);
        no_file_contents(path, &a);
    }
    let a = server.raw("GET http://127.0.0.1/../sentinel.txt HTTP/1.1", b"");
    no_file_contents("absolute-form", &a);

    // Only the index directory is open or mapped (besides the binary and system libraries).
    let index = std::fs::canonicalize(site.index()).expect("canonical");
    let pid = server.pid();
    let mut opened = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            opened.push(target);
        }
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    opened.extend(
        maps.lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .filter(|p| p.starts_with('/'))
            .map(PathBuf::from),
    );
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    let strays: Vec<&PathBuf> = opened
        .iter()
        .filter(|p| p.is_absolute())
        .filter(|p| {
            let p = p.to_string_lossy();
            let p = p.trim_end_matches(" (deleted)");
            !(Path::new(p).starts_with(&index)
                || Path::new(p) == exe
                || p == "/dev/null"
                || p.starts_with("/usr/lib")
                || p.starts_with("/lib"))
        })
        .collect();
    assert!(strays.is_empty(), "the server opened {strays:?}");
    assert!(
        opened.iter().any(|p| p.starts_with(&index)),
        "the index is mapped: {opened:?}"
    );

    server.stop();
    let after = site.outside();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "files appeared or vanished outside the index"
    );
    for (path, b) in &before {
        assert_eq!(Some(b), after.get(path), "{} changed", path.display());
    }
    // Inside the index: tantivy's files only, none named after a request.
    for e in std::fs::read_dir(site.index()).expect("index").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("passwd") && !name.contains("sentinel") && !name.contains(".."),
            "{name}"
        );
    }
}

/// Reads from `s` until the server closes the connection (or 30 s pass, which panics); the
/// text and when the first byte came.
fn read_until_closed(s: &mut TcpStream) -> (String, Option<Instant>) {
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (mut out, mut first) = (Vec::new(), None);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
            Ok(n) => {
                first.get_or_insert_with(Instant::now);
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), first)
}

#[test]
fn a_client_stalling_its_body_gets_408_and_others_are_served_meanwhile() {
    let site = Site::new();
    let server = site.serve(&[("RUST_LOG", "info")], &["--read-timeout", "3"]);
    let head = |len: usize| {
        format!(
            "POST /match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let body = br#"{"id": "lyonbiopole", "top": 3}"#;

    // Stalls after half of its body.
    let mut stalled = TcpStream::connect(&server.addr).expect("connect");
    stalled
        .write_all(head(body.len()).as_bytes())
        .expect("head");
    stalled.write_all(&body[..body.len() / 2]).expect("half");
    let stalled_at = Instant::now();

    // Trickles a byte every 200 ms: a deadline, not an idle timeout, stops it.
    let mut trickle = TcpStream::connect(&server.addr).expect("connect");
    trickle
        .write_all(head(body.len()).as_bytes())
        .expect("head");
    let mut w = trickle.try_clone().expect("clone");
    let trickled_at = Instant::now();
    let writer = std::thread::spawn(move || {
        for b in body {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });

    // Connects and sends nothing; sends half a request line and headers.
    let mut silent = TcpStream::connect(&server.addr).expect("connect");
    let silent_at = Instant::now();
    let mut half = TcpStream::connect(&server.addr).expect("connect");
    half.write_all(b"POST /match HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .expect("half a head");
    let half_at = Instant::now();

    // Meanwhile, other clients are served: before the stalled ones get any answer.
    for _ in 0..3 {
        let a = server.call(
            "POST",
            "/match",
            Some(std::str::from_utf8(body).expect("utf8")),
            &[],
        );
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.json()["matches"].as_array().map_or(0, Vec::len), 3);
        assert_eq!(server.call("GET", "/health", None, &[]).status, 200);
    }
    for s in [&stalled, &trickle, &silent, &half] {
        s.set_nonblocking(true).expect("nonblocking");
        let mut byte = [0u8; 1];
        let e = (&*s).read(&mut byte).expect_err("no answer yet");
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
        s.set_nonblocking(false).expect("blocking");
    }

    for (what, s, since) in [
        ("stalled", &mut stalled, stalled_at),
        ("trickling", &mut trickle, trickled_at),
    ] {
        let (text, first) = read_until_closed(s);
        let after = first.map(|t| t.duration_since(since));
        assert!(text.starts_with("HTTP/1.1 408"), "{what}: {text:?}");
        assert!(
            text.contains("\"code\":\"request_timeout\""),
            "{what}: {text:?}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{what}: {text:?}"
        );
        // The answer came at the deadline (3 s), not before nor much later; then the
        // connection was closed (read_until_closed returned before its own 30 s).
        let after = after.expect("an answer");
        assert!(
            after >= Duration::from_millis(2900) && after < Duration::from_secs(10),
            "{what}: answered after {after:?}"
        );
    }
    let _ = writer.join();
    // No request, no answer: the connections without complete headers are just closed, at the
    // deadline too.
    for (what, s, since) in [
        ("silent", &mut silent, silent_at),
        ("half a head", &mut half, half_at),
    ] {
        let (text, _) = read_until_closed(s);
        let after = since.elapsed();
        assert!(!text.starts_with("HTTP/1.1 2"), "{what}: {text:?}");
        assert!(
            after >= Duration::from_millis(2900) && after < Duration::from_secs(10),
            "{what}: closed after {after:?}"
        );
    }

    // The server is still fine.
    let a = server.call("GET", "/health", None, &[]);
    assert_eq!(a.status, 200);
}

#[test]
fn the_read_timeout_comes_from_the_config_and_bad_values_are_refused() {
    let site = Site::new();
    let config = site.dir.path().join("c.toml");
    std::fs::write(&config, "[server]\nread_timeout = 0.5\n").expect("config");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(site.dir.path().join("cwd"))
        .arg("--config")
        .arg(&config)
        .arg("--index")
        .arg(site.index());
    let server = Server::spawn(cmd, &[("RUST_LOG", "info")], &[]);
    let mut s = TcpStream::connect(&server.addr).expect("connect");
    s.write_all(b"PUT /profiles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
        .expect("write");
    let t = Instant::now();
    let (text, _) = read_until_closed(&mut s);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(server);

    for bad in ["0", "-1", "nan", "1e12"] {
        let out = Command::new(BIN)
            .args(["--no-config", "--index"])
            .arg(site.index())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .arg(format!("--read-timeout={bad}"))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("read-timeout"), "{bad}: {err}");
    }
}

#[test]
fn errors_never_echo_a_huge_value() {
    let site = Site::new();
    let server = site.serve(&[("RUST_LOG", "info")], &[]);
    let huge = "Ü".repeat(450_000); // 900 KB
    let profile = |field: &str, value: serde_json::Value| {
        let mut p = gen_profile(7, "v1");
        p[field] = value;
        p
    };
    let mut unknown_field = gen_profile(7, "v1");
    unknown_field[huge.as_str()] = json!(1);
    // One bad profile field at a time, through `PUT /profiles`.
    let mut cases: Vec<(&str, &str, &str, String)> = [
        ("country", "country", json!(huge)),
        ("kind", "kind", json!(huge)),
        ("a sector", "sectors", json!([huge])),
        ("a target country", "target_countries", json!(["FR", huge])),
        ("members", "members", json!(huge)),
        ("an id", "id", json!(huge)),
    ]
    .into_iter()
    .map(|(what, field, value)| (what, "PUT", "/profiles", profile(field, value).to_string()))
    .collect();
    cases.extend([
        (
            "a field name",
            "PUT",
            "/profiles",
            unknown_field.to_string(),
        ),
        (
            "a request field name",
            "POST",
            "/match",
            format!("{{\"id\": \"lyonbiopole\", \"{huge}\": 1}}"),
        ),
        (
            "an unknown id",
            "POST",
            "/match",
            json!({"id": huge}).to_string(),
        ),
        (
            "a filter country",
            "POST",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"countries": [huge]}}).to_string(),
        ),
        (
            "a kind filter",
            "POST",
            "/match",
            json!({"id": "lyonbiopole", "filters": {"kinds": [huge]}}).to_string(),
        ),
        (
            "a batch participant",
            "POST",
            "/batch",
            json!({"participants": ["lyonbiopole", huge], "event": {"slots": ["09:00-10:00/20m"]}})
                .to_string(),
        ),
        (
            "a slot spec",
            "POST",
            "/batch",
            json!({"participants": ["lyonbiopole", "aquavalley"], "event": {"slots": [huge]}})
                .to_string(),
        ),
    ]);
    for (what, method, path, body) in &cases {
        let a = server.raw(&json_head(method, path, ""), body.as_bytes());
        assert!(
            (400..500).contains(&a.status),
            "{what}: {} {}",
            a.status,
            &a.text[..a.text.len().min(300)]
        );
        assert!(
            a.text.len() < 2_000,
            "{what}: {} bytes back: {}",
            a.text.len(),
            a.text.chars().take(300).collect::<String>()
        );
        let v = a.json();
        assert!(v["error"]["message"].is_string(), "{what}: {}", a.text);
        eprintln!("{what}: {} {} bytes", a.status, a.text.len());
        // The value is cut to 80 characters, on a character boundary, and marked.
        let shown = format!("{}…", "Ü".repeat(80));
        assert!(
            a.text.contains(&shown) || !a.text.contains(&"Ü".repeat(81)),
            "{what}: {}",
            a.text
        );
    }
    // Short values are quoted in full, as before.
    let a = server.raw(
        &json_head("PUT", "/profiles", ""),
        profile("country", json!("Frnce")).to_string().as_bytes(),
    );
    assert_eq!(a.status, 422);
    assert!(
        a.text.contains("unknown country \\\"Frnce\\\""),
        "{}",
        a.text
    );
}
