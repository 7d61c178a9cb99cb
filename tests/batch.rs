//! `clustermatch batch` end to end: a small event from the fixtures (full profiles, rows given by
//! id only, availability, caps, requests), every output file read back (CSV, JSON, xlsx with
//! calamine, .ics with the icalendar parser), `--keep` for late registrations, bad inputs of each
//! kind (exit code 2, located messages), and the HTML report in headless Chromium.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/profiles.jsonl");

fn cm() -> Command {
    let mut c = Command::cargo_bin("clustermatch").expect("binary");
    c.env_remove("CLUSTERMATCH_INDEX")
        .env_remove("CLUSTERMATCH_CONFIG")
        .arg("--no-config");
    c
}

fn fixture_lines() -> Vec<Value> {
    fs::read_to_string(FIXTURES)
        .expect("fixtures")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// A temp dir with an index of every fixture, a participants file (24 full profiles with
/// availability and caps, 6 rows given by id only) and a requests file.
struct Event {
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl Event {
    fn new() -> Event {
        // Rows given by id only are looked up in the default index (`index/` in the working
        // directory), which the first command builds from the fixtures.
        let dir = tempfile::tempdir().expect("tempdir");
        let all = fixture_lines();
        let mut lines = Vec::new();
        let mut ids = Vec::new();
        for (i, p) in all.iter().take(30).enumerate() {
            let id = p["id"].as_str().expect("id").to_string();
            ids.push(id.clone());
            let mut v = if i >= 24 {
                serde_json::json!({ "id": id })
            } else {
                p.clone()
            };
            match i % 5 {
                1 => v["availability"] = "1-5".into(),
                2 => v["availability"] = "11:00-12:30".into(),
                3 => v["max_meetings"] = 2.into(),
                _ => {}
            }
            lines.push(v.to_string());
        }
        fs::write(
            dir.path().join("participants.jsonl"),
            lines.join("\n") + "\n",
        )
        .expect("write");
        let req = format!(
            "a,b,type,priority,note\n{},{},meet,3,\n{},{},apart,,competitors\n{},{},meet,1,\n",
            ids[0], ids[7], ids[1], ids[2], ids[4], ids[25]
        );
        fs::write(dir.path().join("requests.csv"), req).expect("write");
        Event { dir, ids }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn batch(&self, out: &str) -> Command {
        let mut c = cm();
        c.current_dir(self.dir.path())
            .arg("batch")
            .arg("--participants")
            .arg(self.path("participants.jsonl"))
            .arg("--requests")
            .arg(self.path("requests.csv"))
            .args([
                "--slots",
                "09:00-12:30/20m",
                "--break",
                "10:30-11:00",
                "--tables",
                "6",
                "--min-score",
                "0.1",
                "--date",
                "2026-03-12",
                "--name",
                "EU-China cluster matchmaking",
                "--quiet",
                "--out",
            ])
            .arg(self.path(out));
        c
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let head: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.expect("record");
            head.iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (head, rows)
}

#[test]
fn a_small_event_yields_every_file_and_they_parse() {
    let ev = Event::new();
    let out = ev.batch("out").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("30 participants, 8 slots × 6 tables"),
        "{stdout}"
    );
    let dir = ev.path("out");

    // JSON: the whole agenda
    let agenda: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("agenda.json")).expect("read"))
            .expect("agenda.json parses");
    let meetings = agenda["meetings"].as_array().expect("meetings");
    assert!(!meetings.is_empty());
    let stats = &agenda["stats"];
    assert!(
        stats["total_score"].as_f64().unwrap() <= stats["upper_bound"].as_f64().unwrap() + 1e-9
    );
    assert_eq!(stats["participants"], 30);
    // rules, checked on the files
    let avail: HashMap<String, HashSet<u64>> = agenda["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["availability"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    let mut seen = HashSet::new();
    let mut busy: HashSet<(u64, String)> = HashSet::new();
    let mut count: HashMap<String, usize> = HashMap::new();
    for m in meetings {
        let slot = m["slot"].as_u64().unwrap();
        assert!(m["table"].as_u64().unwrap() <= 6);
        assert!(seen.insert((slot, m["table"].as_u64().unwrap())));
        for who in ["a", "b"] {
            let id = m[who].as_str().unwrap().to_string();
            assert!(avail[&id].contains(&slot), "{id} not free in slot {slot}");
            assert!(busy.insert((slot, id.clone())), "{id} twice in slot {slot}");
            *count.entry(id).or_default() += 1;
        }
        let pair = (m["a"].as_str().unwrap(), m["b"].as_str().unwrap());
        assert!(
            !(pair == (ev.ids[1].as_str(), ev.ids[2].as_str())
                || pair == (ev.ids[2].as_str(), ev.ids[1].as_str())),
            "a pair kept apart met"
        );
        assert!(m["score"].as_f64().unwrap() >= 0.1 || m.get("requested").is_some());
        assert!(
            !m["why_a"]["reasons"].as_array().unwrap().is_empty()
                || m["score"].as_f64().unwrap() < 0.2
        );
    }
    assert!(count[&ev.ids[3]] <= 2, "cap of 2 broken");
    // the top-priority request is met
    assert!(meetings.iter().any(|m| {
        let (a, b) = (m["a"].as_str().unwrap(), m["b"].as_str().unwrap());
        (a == ev.ids[0] && b == ev.ids[7]) || (a == ev.ids[7] && b == ev.ids[0])
    }));
    // every unscheduled recommendation has a reason
    let recs: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("recommendations.json")).expect("read"))
            .expect("recommendations.json parses");
    for r in recs.as_array().unwrap() {
        assert!(
            r.get("scheduled").is_some() || r["unscheduled"]["reason"].is_string(),
            "{r}"
        );
    }

    // CSV
    let (head, rows) = read_csv(&dir.join("meetings.csv"));
    assert_eq!(&head[..5], ["slot", "start", "end", "table", "a"]);
    assert_eq!(rows.len(), meetings.len());
    let (_, rows) = read_csv(&dir.join("agenda_by_participant.csv"));
    assert_eq!(rows.len(), meetings.len() * 2);
    let (head, rows) = read_csv(&dir.join("recommendations.csv"));
    assert!(head.contains(&"unscheduled_reason".to_string()));
    assert_eq!(rows.len(), recs.as_array().unwrap().len());

    // xlsx, read back with calamine
    use calamine::{open_workbook, Reader, Xlsx};
    let mut book: Xlsx<_> = open_workbook(dir.join("agenda.xlsx")).expect("xlsx opens");
    let names = book.sheet_names().to_vec();
    for s in [
        "Summary",
        "By participant",
        "By table",
        "Grid",
        "Recommendations",
        "Unscheduled",
    ] {
        assert!(names.iter().any(|n| n == s), "sheet {s} missing: {names:?}");
    }
    let by_table = book.worksheet_range("By table").expect("sheet");
    assert_eq!(by_table.height(), meetings.len() + 1);
    let by_part = book.worksheet_range("By participant").expect("sheet");
    assert_eq!(by_part.height(), meetings.len() * 2 + 1);

    // one .ics per participant, parsed
    let mut events = 0;
    for id in &ev.ids {
        let text = fs::read_to_string(dir.join("ics").join(format!("{id}.ics"))).expect("ics");
        let cal: icalendar::Calendar = text.parse().expect("ics parses");
        let n = cal
            .components
            .iter()
            .filter(|c| c.as_event().is_some())
            .count();
        assert_eq!(n, count.get(id).copied().unwrap_or(0), "{id}");
        events += n;
        assert!(text.contains("DTSTART:20260312T"), "{text}");
    }
    assert_eq!(events, meetings.len() * 2);

    // HTML exists and is self-contained
    let html = fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(html.contains("id=\"agenda-grid\""));
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script src")
    );
}

#[test]
fn kept_meetings_stay_when_late_registrations_arrive() {
    let ev = Event::new();
    ev.batch("first").assert().success();
    let (_, first) = read_csv(&ev.path("first").join("meetings.csv"));
    // five late registrations
    let mut text = fs::read_to_string(ev.path("participants.jsonl")).expect("read");
    for p in fixture_lines().iter().skip(30).take(5) {
        text.push_str(&p.to_string());
        text.push('\n');
    }
    fs::write(ev.path("participants.jsonl"), text).expect("write");
    ev.batch("second")
        .arg("--keep")
        .arg(ev.path("first").join("meetings.csv"))
        .assert()
        .success();
    let (_, second) = read_csv(&ev.path("second").join("meetings.csv"));
    let key = |r: &HashMap<String, String>| {
        (
            r["slot"].clone(),
            r["table"].clone(),
            r["a"].clone(),
            r["b"].clone(),
        )
    };
    let now: HashSet<_> = second.iter().map(key).collect();
    for r in &first {
        assert!(now.contains(&key(r)), "kept meeting moved: {r:?}");
    }
    assert!(second.iter().filter(|r| r["locked"] == "true").count() == first.len());
}

/// Runs a batch that must fail with exit code 2 and a message containing every `needle`.
fn fails(ev: &Event, extra: &[&str], needles: &[&str]) {
    let mut c = ev.batch("bad");
    c.args(extra);
    let out = c.assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in:\n{err}");
    }
}

#[test]
fn bad_inputs_exit_2_with_located_messages() {
    let ev = Event::new();
    // bad slot spec, bad slot length, bad break
    fails(
        &ev,
        &["--slots", "9-12:30/20m"],
        &["--slots", "bad time range"],
    );
    fails(
        &ev,
        &["--slots", "09:00-12:30"],
        &["--slots", "bad slot spec"],
    );
    fails(&ev, &["--slots", "09:00-12:30/20x"], &["--slots", "unit"]);
    fails(
        &ev,
        &["--break", "11:00-10:00"],
        &["--break", "ends before it starts"],
    );
    fails(&ev, &["--tables", "0"], &["--tables must be at least 1"]);
    fails(
        &ev,
        &["--date", "12/03/2026"],
        &["--date: bad date", "YYYY-MM-DD"],
    );
    fails(
        &ev,
        &["--min-score", "1.5"],
        &["--min-score must be between 0 and 1"],
    );

    // bad availability, bad cap: file, line and field
    let p = ev.path("participants.jsonl");
    let good = fs::read_to_string(&p).expect("read");
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let mut v: Value = serde_json::from_str(&lines[2]).expect("json");
    v["availability"] = "3-99".into();
    lines[2] = v.to_string();
    let mut v: Value = serde_json::from_str(&lines[5]).expect("json");
    v["max_meetings"] = "many".into();
    lines[5] = v.to_string();
    fs::write(&p, lines.join("\n")).expect("write");
    fails(
        &ev,
        &[],
        &[
            "participants.jsonl:3: field \"availability\": slot 99 does not exist",
            "participants.jsonl:6: field \"max_meetings\"",
        ],
    );
    // an id-only row that is not in the index
    let mut bad = lines.clone();
    bad[0] = serde_json::json!({"id": format!("{}x", ev.ids[0])}).to_string();
    bad[2] = good.lines().nth(2).unwrap().to_string();
    bad[5] = good.lines().nth(5).unwrap().to_string();
    fs::write(&p, bad.join("\n")).expect("write");
    fails(
        &ev,
        &[],
        &[
            "participants.jsonl:1: field \"id\"",
            "not in the index",
            "did you mean",
        ],
    );
    fs::write(&p, &good).expect("write");

    // requests: unknown id (with suggestion), bad type, bad priority, contradiction
    let r = ev.path("requests.csv");
    let typo = format!("{}x", ev.ids[0]);
    fs::write(
        &r,
        format!(
            "a,b,type,priority\n{typo},{},meet,1\n{},{},date,1\n{},{},meet,high\n",
            ev.ids[1], ev.ids[2], ev.ids[3], ev.ids[4], ev.ids[5]
        ),
    )
    .expect("write");
    fails(
        &ev,
        &[],
        &[
            "requests.csv:2: field \"a\": unknown participant",
            &format!("did you mean \"{}\"", ev.ids[0]),
            "requests.csv:3: field \"type\"",
            "requests.csv:4: field \"priority\"",
        ],
    );
    fs::write(
        &r,
        format!(
            "a,b,type\n{0},{1},meet\n{1},{0},apart\n",
            ev.ids[1], ev.ids[2]
        ),
    )
    .expect("write");
    fails(
        &ev,
        &[],
        &["requests.csv:3", "both requested and kept apart"],
    );

    // --keep: unknown participant, table out of range
    fs::write(&r, "a,b,type\n").expect("write");
    let k = ev.path("keep.csv");
    fs::write(&k, format!("slot,table,a,b\n1,1,{},nobody\n", ev.ids[0])).expect("write");
    fails(
        &ev,
        &["--keep", k.to_str().unwrap()],
        &["keep.csv:2: field \"b\"", "not among the participants"],
    );
    fs::write(&r, format!("a,b,type\n{},{},meet\n", ev.ids[0], ev.ids[7])).expect("write");
    fs::write(
        &k,
        format!("slot,table,a,b\n1,9,{},{}\n", ev.ids[0], ev.ids[7]),
    )
    .expect("write");
    fails(
        &ev,
        &["--keep", k.to_str().unwrap()],
        &["table 9 does not exist"],
    );
    // --keep: the same pair twice (written both ways round) — a pair meets once
    fs::write(
        &k,
        format!(
            "slot,table,a,b\n1,1,{a},{b}\n3,2,{b},{a}\n",
            a = ev.ids[0],
            b = ev.ids[7]
        ),
    )
    .expect("write");
    fails(
        &ev,
        &["--keep", k.to_str().unwrap()],
        &["keep.csv:3: field \"b\"", "already meet on line 2"],
    );
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        println!("SKIPPED: /usr/bin/chromium is not installed (apt-get install chromium); the HTML report was not rendered");
        return;
    }
    let ev = Event::new();
    ev.batch("out").assert().success();
    let report = ev.path("out").join("report.html");
    let shot = ev.path("report.png");
    let profile = ev.path("chromium-profile");
    let base = |c: &mut std::process::Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1400,2000");
    };
    let mut c = std::process::Command::new(chromium);
    base(&mut c);
    let status = c
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = fs::read(&shot).expect("screenshot written");
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "screenshot is not a PNG"
    );
    let mut c = std::process::Command::new(chromium);
    base(&mut c);
    let dom = c
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("id=\"agenda-grid\""),
        "grid missing from the rendered DOM"
    );
    let agenda: Value = serde_json::from_str(
        &fs::read_to_string(ev.path("out").join("agenda.json")).expect("read"),
    )
    .expect("json");
    let meetings = agenda["meetings"].as_array().unwrap().len();
    let cells = dom.matches("<td class=\"m").count();
    assert_eq!(
        cells, meetings,
        "every meeting is a cell of the rendered grid"
    );
    assert!(dom.contains("Participants' agendas") && dom.contains("Event summary"));
}
