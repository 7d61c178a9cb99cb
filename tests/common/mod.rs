//! Shared helpers for the integration tests: a temporary workspace and the binary under test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The shipped fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A temporary directory with an index built from the fixtures.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// An empty workspace (no index).
    pub fn empty() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A workspace whose `idx/` holds the fixtures.
    pub fn with_fixtures() -> Workspace {
        let ws = Workspace::empty();
        ws.cmd()
            .args(["index", "--input"])
            .arg(fixtures().join("profiles.jsonl"))
            .assert()
            .success();
        ws
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// The binary, run in the workspace with `--index idx` and no outside configuration.
    pub fn cmd(&self) -> Command {
        let mut c = self.bare();
        c.arg("--index").arg(self.path("idx"));
        c
    }

    /// The binary, run in the workspace without `--index`.
    pub fn bare(&self) -> Command {
        let mut c = Command::cargo_bin("clustermatch").expect("binary");
        c.current_dir(self.dir.path())
            .env_remove("CLUSTERMATCH_INDEX")
            .env_remove("CLUSTERMATCH_CONFIG")
            .env_remove("CLUSTERMATCH_TOKEN");
        c
    }
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `match ... --format json` and parses it.
pub fn match_json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let mut c = ws.cmd();
    c.arg("match").args(args).args(["--format", "json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stderr: {err}");
    serde_json::from_str(&out).expect("JSON output")
}
