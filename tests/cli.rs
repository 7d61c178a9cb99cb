//! End-to-end tests of the `clustermatch` binary:
//! 1. the first command builds the default index from the fixtures and says so;
//! 2. `match` by id, by profile file and by free text, in table, JSON and CSV, deterministic;
//! 3. filters, `--top`, weights, `--explain`, and that the query never matches itself;
//! 4. `index` upserts by id, deletes, and is all-or-nothing on a bad file;
//! 5. every input error class gets a located message and exit code 2;
//! 6. `sectors`, `eval`, `show`, `config`, `--help` with examples, and a second writer's lock error.

mod common;

use common::{fixtures, match_json, run, Workspace};

#[test]
fn first_run_builds_the_default_index_from_fixtures() {
    let ws = Workspace::empty();
    let mut c = ws.bare();
    c.args(["match", "--id", "lyonbiopole", "--top", "3"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no index at index/ yet: building it from"),
        "{err}"
    );
    assert!(out.contains("Partners for Lyonbiopole"), "{out}");
    assert!(ws.path("index/meta.json").is_file());
    let mut c = ws.bare();
    c.args(["match", "--id", "lyonbiopole", "--top", "3"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 0);
    assert!(
        !err.contains("building"),
        "second run reuses the index: {err}"
    );
}

#[test]
fn match_json_has_the_documented_shape_and_never_returns_the_query() {
    let ws = Workspace::with_fixtures();
    let v = match_json(&ws, &["--id", "lyonbiopole", "--top", "7"]);
    assert_eq!(v["query"]["id"], "lyonbiopole");
    let matches = v["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 7);
    let mut last = f64::INFINITY;
    for (i, m) in matches.iter().enumerate() {
        assert_eq!(m["rank"], i + 1);
        assert_ne!(m["id"], "lyonbiopole");
        for key in ["id", "name", "country"] {
            assert!(m[key].is_string(), "{key} in {m}");
        }
        let s = m["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&s) && s <= last);
        last = s;
        for c in ["text", "sector", "country"] {
            assert!(m["components"].get(c).is_some(), "component {c}");
        }
        assert!(!m["reasons"].as_array().expect("reasons").is_empty(), "{m}");
    }
}

#[test]
fn output_is_deterministic() {
    let ws = Workspace::with_fixtures();
    let a = match_json(&ws, &["--id", "ccb", "--top", "20"]);
    let b = match_json(&ws, &["--id", "ccb", "--top", "20"]);
    assert_eq!(a, b);
}

#[test]
fn csv_and_table_formats() {
    let ws = Workspace::with_fixtures();
    let mut c = ws.cmd();
    c.args([
        "match",
        "--id",
        "lyonbiopole",
        "--top",
        "4",
        "--format",
        "csv",
    ]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(r.headers().expect("header").get(2), Some("id"));
    assert_eq!(r.records().count(), 4);
    let mut c = ws.cmd();
    c.args(["match", "--id", "lyonbiopole", "--top", "4", "--explain"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(
        out.contains("score = w_text*text"),
        "explanations printed: {out}"
    );
}

#[test]
fn free_text_query_infers_sectors_and_uses_targets() {
    let ws = Workspace::with_fixtures();
    let v = match_json(
        &ws,
        &[
            "--text",
            "flood protection, delta technology and water management",
            "--target",
            "CN",
        ],
    );
    assert_eq!(v["query"]["sectors_inferred"], true);
    assert!(!v["query"]["sectors"]
        .as_array()
        .expect("sectors")
        .is_empty());
    let top = &v["matches"][0];
    let reasons = top["reasons"].to_string();
    assert!(reasons.contains("matched terms"), "{reasons}");
    let v = match_json(&ws, &["--sector", "biotech", "--target", "CN"]);
    assert_eq!(v["query"]["sectors"][0], "biopharmaceuticals");
}

#[test]
fn match_by_profile_file() {
    let ws = Workspace::with_fixtures();
    let f = ws.write(
        "me.jsonl",
        r#"{"id":"my-cluster","name":"My cluster","country":"DE","sectors":["biotech"],"description":"vaccines and biologics","target_countries":["CN"]}"#,
    );
    let v = match_json(&ws, &["--profile", f.to_str().expect("path")]);
    assert_eq!(v["query"]["id"], "my-cluster");
    assert!(!v["matches"].as_array().expect("matches").is_empty());
}

#[test]
fn filters_and_weights_apply() {
    let ws = Workspace::with_fixtures();
    let v = match_json(
        &ws,
        &["--id", "lyonbiopole", "--only-country", "CN", "--top", "50"],
    );
    for m in v["matches"].as_array().expect("matches") {
        assert_eq!(m["country"], "CN");
    }
    let v = match_json(&ws, &["--id", "lyonbiopole", "--only-kind", "science_park"]);
    for m in v["matches"].as_array().expect("matches") {
        assert_eq!(m["kind"], "science_park");
    }
    let all = match_json(&ws, &["--id", "lyonbiopole", "--top", "3"]);
    let first = all["matches"][0]["id"].as_str().expect("id").to_string();
    let v = match_json(&ws, &["--id", "lyonbiopole", "--exclude", &first]);
    assert!(v["matches"]
        .as_array()
        .expect("m")
        .iter()
        .all(|m| m["id"] != first.as_str()));
    let v = match_json(
        &ws,
        &["--id", "lyonbiopole", "--min-score", "0.6", "--top", "100"],
    );
    for m in v["matches"].as_array().expect("matches") {
        assert!(m["score"].as_f64().expect("score") >= 0.6);
    }
    let v = match_json(
        &ws,
        &[
            "--id",
            "lyonbiopole",
            "--w-text",
            "1",
            "--w-sector",
            "0",
            "--w-country",
            "0",
        ],
    );
    assert_eq!(v["query"]["weights"]["text"], 1.0);
    let m = &v["matches"][0];
    assert_eq!(m["score"], m["components"]["text"]);
}

#[test]
fn upsert_replaces_a_profile_and_delete_removes_it() {
    let ws = Workspace::with_fixtures();
    let f = ws.write(
        "update.csv",
        "id,name,country,sectors\nlyonbiopole,Lyonbiopole Renamed,FR,biotech\nnew-one,New One,it,medical_devices\n",
    );
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&f);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 new, 1 replaced"), "{err}");
    let mut c = ws.cmd();
    c.args(["show", "lyonbiopole"]);
    let (_, out, _) = run(c);
    assert!(out.contains("Lyonbiopole Renamed"));
    let mut c = ws.cmd();
    c.args(["index", "--delete", "new-one"]);
    assert_eq!(run(c).0, 0);
    let mut c = ws.cmd();
    c.args(["show", "new-one"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("unknown profile id \"new-one\""), "{err}");
    let mut c = ws.cmd();
    c.args(["index", "--delete", "no-such-id"]);
    assert_eq!(run(c).0, 2);
}

fn index_errors(ws: &Workspace, name: &str, text: &str) -> String {
    let f = ws.write(name, text);
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&f);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was stored"), "{err}");
    err
}

#[test]
fn a_bad_file_stores_nothing_and_reports_every_error() {
    let ws = Workspace::with_fixtures();
    let err = index_errors(
        &ws,
        "participants.csv",
        "id,name,country,sectors\ngood-one,Good,FR,biotech\nbad,Bad,FR,biopharma\nBad Id,X,Germny,\n",
    );
    assert!(
        err.contains("participants.csv:3: field \"sectors\": unknown code \"biopharma\"; did you mean \"biopharmaceuticals\"?"),
        "{err}"
    );
    assert!(err.contains("participants.csv:4: field \"id\""), "{err}");
    assert!(
        err.contains("participants.csv:4: field \"country\": unknown country \"Germny\""),
        "{err}"
    );
    let mut c = ws.cmd();
    c.args(["show", "good-one"]);
    assert_eq!(run(c).0, 2, "the good line of a bad file is not stored");
}

#[test]
fn a_late_bad_line_rolls_back_profiles_already_given_to_the_writer() {
    // One pass validates and writes: 5,000 good lines (more than one writer batch) reach the
    // writer before the bad last line, and still nothing is stored.
    let ws = Workspace::with_fixtures();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "{{\"id\":\"late-{i}\",\"name\":\"Late {i}\",\"country\":\"FR\"}}\n"
        ));
    }
    text.push_str("{\"id\":\"late-x\",\"name\":\"X\",\"country\":\"Germny\"}\n");
    let err = index_errors(&ws, "late.jsonl", &text);
    assert!(err.contains("late.jsonl:5001: field \"country\""), "{err}");
    for id in ["late-0", "late-4999"] {
        let mut c = ws.cmd();
        c.args(["show", id]);
        assert_eq!(run(c).0, 2, "{id} must not be stored");
    }
    let mut c = ws.cmd();
    c.args(["show", "natureef"]);
    assert_eq!(run(c).0, 0, "the stored profiles are intact");
}

#[test]
fn a_bad_first_file_leaves_no_index_behind() {
    let ws = Workspace::empty();
    index_errors(&ws, "bad.csv", "id,name,country\nx,X,Germny\n");
    assert!(
        !ws.path("idx").exists(),
        "no index directory is left by a refused first run"
    );
}

#[test]
fn every_error_class_is_located() {
    let ws = Workspace::with_fixtures();
    let cases = [
        ("a.jsonl", "{\"id\":\"a\",\"name\":\"A\",\"country\":\"FR\",\"colour\":\"red\"}\n", "a.jsonl:1: field \"colour\": unknown field"),
        ("b.jsonl", "{\"id\":\"a\",\"name\":\"A\",\"country\":\"XX\"}\n", "b.jsonl:1: field \"country\": unknown country \"XX\""),
        ("c.jsonl", "{\"id\":\"a\",\"name\":\"A\"}\n", "c.jsonl:1: field \"country\": is required but missing"),
        ("d.jsonl", "{\"id\":\"a\",\"name\":\"A\",\"country\":\"FR\"}\n{\"id\":\"a\",\"name\":\"B\",\"country\":\"FR\"}\n", "d.jsonl:2: field \"id\": duplicate id \"a\" (first on line 1)"),
        ("e.jsonl", "{\"id\":\"a\",\"name\":\"A\",\"country\":\"FR\"}\n{\"id\": oops\n", "e.jsonl:2: broken JSON"),
        ("f.jsonl", "{\"id\":\"A B\",\"name\":\"A\",\"country\":\"FR\"}\n", "f.jsonl:1: field \"id\": invalid id \"A B\""),
        ("g.csv", "id,name,country,kind\na,A,FR,sciencepark\n", "g.csv:2: field \"kind\": unknown kind \"sciencepark\"; did you mean \"science_park\"?"),
        ("h.csv", "id,name,country,target_countries\na,A,FR,CN;Narnia\n", "h.csv:2: field \"target_countries\": unknown country \"Narnia\""),
    ];
    for (name, text, expected) in cases {
        let err = index_errors(&ws, name, text);
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err}"
        );
    }
}

#[test]
fn xlsx_errors_name_the_sheet_row() {
    let ws = Workspace::with_fixtures();
    let path = ws.path("members.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        ["id", "name", "country", "sectors"],
        ["xl-one", "XL One", "de", "photonics"],
        ["xl-two", "XL Two", "FR", "biopharma"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).expect("cell");
        }
    }
    sheet.write_number(1, 4, 12.0).expect("cell");
    sheet.write_string(0, 4, "members").expect("cell");
    book.save(&path).expect("save");
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&path);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("members.xlsx:3: field \"sectors\": unknown code \"biopharma\""),
        "{err}"
    );
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows[..2].iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).expect("cell");
        }
    }
    book.save(&path).expect("save");
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&path);
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let mut c = ws.cmd();
    c.args(["show", "xl-one"]);
    let (_, out, _) = run(c);
    assert!(out.contains("\"country\": \"DE\""), "{out}");
}

#[test]
fn usage_errors_exit_2_with_suggestions() {
    let ws = Workspace::with_fixtures();
    let mut c = ws.cmd();
    c.args(["match", "--id", "lyonbiopol"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean \"lyonbiopole\""), "{err}");
    let mut c = ws.cmd();
    c.arg("match");
    assert_eq!(run(c).0, 2);
    let mut c = ws.cmd();
    c.args(["match", "--text", "water", "--only-sector", "watr_stuff"]);
    assert_eq!(run(c).0, 2);
    let mut c = ws.cmd();
    c.args(["match", "--id", "lyonbiopole", "--w-text", "-1"]);
    assert_eq!(run(c).0, 2);
    let mut c = ws.cmd();
    c.args(["match", "--bogus"]);
    assert_eq!(run(c).0, 2);
}

#[test]
fn sectors_lists_the_taxonomy() {
    let ws = Workspace::empty();
    let mut c = ws.bare();
    c.args(["sectors", "--format", "json"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["sectors"].as_array().expect("sectors").len(), 59);
    assert_eq!(v["ecosystems"].as_array().expect("ecosystems").len(), 14);
    let mut c = ws.bare();
    c.arg("sectors");
    let (_, out, _) = run(c);
    assert!(out.contains("biopharmaceuticals") && out.contains("59 sectors in 14 ecosystems"));
}

#[test]
fn eval_reports_metrics_per_slice_and_query() {
    let ws = Workspace::with_fixtures();
    let mut c = ws.cmd();
    c.args(["eval", "--truth"])
        .arg(fixtures().join("partners.csv"))
        .args(["--format", "json", "--per-query"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let slices = v["slices"].as_array().expect("slices");
    assert_eq!(slices.len(), 2);
    let m = &slices[0]["overall"];
    for k in [
        "recall_at_5",
        "recall_at_10",
        "recall_at_20",
        "mrr",
        "ndcg_at_10",
    ] {
        let x = m[k].as_f64().expect(k);
        assert!(x > 0.0 && x <= 1.0, "{k} = {x}");
    }
    assert!(!slices[0]["per_query"]
        .as_array()
        .expect("per query")
        .is_empty());
    let bad = ws.write("truth.csv", "a,b,grade\nlyonbiopole,nobody-here,2\n");
    let mut c = ws.cmd();
    c.args(["eval", "--truth"]).arg(bad);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("truth.csv:2: field \"b\": unknown profile id \"nobody-here\""),
        "{err}"
    );
}

#[test]
fn help_of_every_command_has_an_example() {
    for cmd in ["index", "match", "show", "sectors", "eval", "config"] {
        let ws = Workspace::empty();
        let mut c = ws.bare();
        c.args([cmd, "--help"]);
        let (code, out, _) = run(c);
        assert_eq!(code, 0);
        assert!(out.contains("Example"), "{cmd} --help: {out}");
    }
}

#[test]
fn config_file_sets_weights_and_bad_config_is_located() {
    let ws = Workspace::with_fixtures();
    ws.write(
        "clustermatch.toml",
        "top = 3\n[scoring.weights]\ntext = 1.0\nsector = 0.0\ncountry = 0.0\n",
    );
    let v = match_json(&ws, &["--id", "lyonbiopole"]);
    assert_eq!(v["matches"].as_array().expect("m").len(), 3);
    assert_eq!(v["query"]["weights"]["text"], 1.0);
    let v = match_json(&ws, &["--id", "lyonbiopole", "--top", "5"]);
    assert_eq!(
        v["matches"].as_array().expect("m").len(),
        5,
        "flags beat the config file"
    );
    ws.write("clustermatch.toml", "[scoring.weights]\ntxt = 1.0\n");
    let mut c = ws.cmd();
    c.args(["match", "--id", "lyonbiopole"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("clustermatch.toml:2"), "{err}");
}

#[test]
fn a_second_writer_gets_a_clear_error_and_changes_nothing() {
    let ws = Workspace::with_fixtures();
    let index = clustermatch::ProfileIndex::open(&ws.path("idx")).expect("open");
    let writer: tantivy::IndexWriter = index.tantivy().writer(50_000_000).expect("writer");
    let f = ws.write("one.csv", "id,name,country\nlocked-out,L,FR\n");
    let mut c = ws.cmd();
    c.args(["index", "--input"]).arg(&f);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("locked by another writer"), "{err}");
    drop(writer);
    let mut c = ws.cmd();
    c.args(["show", "locked-out"]);
    assert_eq!(run(c).0, 2);
}

#[test]
fn optimize_merges_the_index_and_changes_no_ranking() {
    let ws = Workspace::with_fixtures();
    let before = match_json(&ws, &["--id", "lyonbiopole", "--top", "10"]);
    let mut c = ws.cmd();
    c.arg("optimize");
    let (code, _, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("segment(s) -> 1,"), "{err}");
    assert_eq!(
        match_json(&ws, &["--id", "lyonbiopole", "--top", "10"]),
        before
    );
    // Like a write, it waits for no one: a second writer gets the lock error.
    let index = clustermatch::ProfileIndex::open(&ws.path("idx")).expect("open");
    let writer: tantivy::IndexWriter = index.tantivy().writer(50_000_000).expect("writer");
    let mut c = ws.cmd();
    c.arg("optimize");
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("locked by another writer"), "{err}");
    drop(writer);
}

#[test]
fn tune_writes_a_config_that_eval_reads() {
    let ws = Workspace::with_fixtures();
    let out = ws.path("tuned.toml");
    let mut c = ws.cmd();
    c.args(["tune", "--truth"])
        .arg(fixtures().join("partners.csv"))
        .args([
            "--folds",
            "2",
            "--rounds",
            "1",
            "--params",
            "weights.text",
            "--out",
        ])
        .arg(&out);
    let (code, stdout, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("cross-validated nDCG@10"), "{stdout}");
    let config = clustermatch::config::Config::load(&out).expect("the written config parses");
    assert!(config.scoring.check().is_ok());
    let mut c = ws.cmd();
    c.arg("--config")
        .arg(&out)
        .args(["eval", "--truth"])
        .arg(fixtures().join("partners.csv"));
    assert_eq!(run(c).0, 0);
    let mut c = ws.cmd();
    c.args(["tune", "--truth"])
        .arg(fixtures().join("partners.csv"))
        .args(["--params", "weights.txt"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean \"weights.text\""), "{err}");
}
