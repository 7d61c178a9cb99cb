//! A running `clustermatch serve` for integration tests (included with `#[path]`): starts the built
//! binary on an ephemeral loopback port, keeps every line of its stderr, and talks to it either
//! with ureq (keep-alive, for volume) or with a raw socket (exact bytes on the wire).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_clustermatch");

/// A server process; killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
    pub agent: ureq::Agent,
}

/// One HTTP answer: status and body text.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The body.
    pub text: String,
    /// Status line, headers and body as received (raw requests), else the body.
    pub full: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `error.code` of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Server {
    /// Starts `clustermatch --no-config --index INDEX serve --addr 127.0.0.1:0 ARGS` with `env`,
    /// logging at `RUST_LOG=trace` unless `env` says otherwise.
    pub fn start(index: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["--no-config", "--index"]).arg(index);
        Self::spawn(cmd, env, args)
    }

    /// Starts `cmd serve --addr 127.0.0.1:0 ARGS` (cmd carries the global flags).
    pub fn spawn(mut cmd: Command, env: &[(&str, &str)], args: &[&str]) -> Server {
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("CLUSTERMATCH_TOKEN")
            .env_remove("CLUSTERMATCH_INDEX")
            .env_remove("CLUSTERMATCH_CONFIG")
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the server");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read stdout");
        if first.is_empty() {
            let out = child.wait_with_output().expect("wait");
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
        let addr = base.trim_start_matches("http://").to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line);
            }
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Server {
            child,
            base,
            addr,
            log,
            agent,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A request through ureq; `Err` on a transport error.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = match body {
            Some(b) => self
                .agent
                .run(req.body(b.to_string()).map_err(|e| e.to_string())?),
            None => self.agent.run(req.body(()).map_err(|e| e.to_string())?),
        }
        .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            full: text.clone(),
            text,
        })
    }

    /// A request through ureq; panics on a transport error.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.try_call(method, path, body, headers)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `head` (request line and headers, without the blank line), then `Host`,
    /// `Connection: close` and `Content-Length`, and `body`, on a fresh connection, and reads the
    /// answer until the server closes it.
    pub fn raw(&self, head: &str, body: &[u8]) -> Answer {
        let mut req = format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.raw_bytes(&req)
    }

    /// Sends exactly `req` on a fresh connection (from another thread, so that an early answer
    /// is read at once) and reads the answer until the server closes the connection.
    pub fn raw_bytes(&self, req: &[u8]) -> Answer {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(120))).ok();
        let head = String::from_utf8_lossy(&req[..req.len().min(80)]).into_owned();
        let mut w = s.try_clone().expect("clone");
        let req = req.to_vec();
        // The server may answer (413) and close before reading all of a large body.
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&req);
        });
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer to {head:?}: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Answer {
            status,
            text: body,
            full: text,
        }
    }

    /// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
    pub fn status_kb(&self, field: &str) -> u64 {
        proc_status_kb(self.pid(), field)
    }

    /// Every stderr line so far, joined.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Stops the server with SIGTERM and waits for it (and for its stderr to be read).
    pub fn stop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of `/proc/PID/status` in kB.
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A generated profile (`gen-NNNN`), its name ending with `version`.
pub fn gen_profile(i: usize, version: &str) -> Value {
    const TOPICS: [&str; 4] = [
        "zeolite catalyst membranes for water treatment",
        "hydrogen electrolysers and fuel cells",
        "medical imaging and diagnostics software",
        "precision agriculture sensors and drones",
    ];
    let country = ["FR", "DE", "CN", "IT", "BR"][i % 5];
    let kind = ["cluster", "company", "network"][i % 3];
    serde_json::json!({
        "id": format!("gen-{i:04}"),
        "name": format!("Generated {i} {version}"),
        "country": country,
        "kind": kind,
        "description": format!("{} group {}", TOPICS[i % 4], i % 11),
        "seeking": "partners for joint projects and export",
        "target_countries": ["CN", "EU"],
    })
}
