//! Writing an [`Agenda`] to files: recommendations (CSV, JSON), the agenda per participant and
//! per table (CSV, JSON), one `.xlsx` workbook with a sheet per view, one iCalendar file per
//! participant, and the HTML report ([`super::report`]).
//!
//! `meetings.csv` (one row per meeting: slot, times, table, both sides) is also the input of
//! `batch --keep`, so an agenda can be extended without moving the meetings already announced.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use icalendar::{Calendar, Component, EventLike};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::{Agenda, Clock, Meeting};
use crate::error::{Error, Result};

/// Every file written, relative to the output directory.
pub const FILES: [&str; 8] = [
    "recommendations.csv",
    "recommendations.json",
    "meetings.csv",
    "agenda_by_participant.csv",
    "agenda.json",
    "agenda.xlsx",
    "report.html",
    "ics/",
];

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Writes every output into `dir` (created when missing); returns the files written.
pub fn write_all(agenda: &Agenda, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    let p = dir.join("recommendations.csv");
    write_recommendations_csv(agenda, &p)?;
    out.push(p);
    let p = dir.join("recommendations.json");
    write_json(&p, &agenda.recommendations)?;
    out.push(p);
    let p = dir.join("meetings.csv");
    write_meetings_csv(agenda, &p)?;
    out.push(p);
    let p = dir.join("agenda_by_participant.csv");
    write_by_participant_csv(agenda, &p)?;
    out.push(p);
    let p = dir.join("agenda.json");
    write_json(&p, agenda)?;
    out.push(p);
    let p = dir.join("agenda.xlsx");
    write_xlsx(agenda, &p)?;
    out.push(p);
    let p = dir.join("report.html");
    fs::write(&p, super::report::render(agenda)).map_err(io(&p))?;
    out.push(p);
    out.extend(write_ics(agenda, &dir.join("ics"))?);
    Ok(out)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let file = fs::File::create(path).map_err(io(path))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value)
        .map_err(|e| io(path)(std::io::Error::other(e.to_string())))?;
    use std::io::Write;
    w.write_all(b"\n").map_err(io(path))?;
    w.flush().map_err(io(path))
}

fn names(agenda: &Agenda) -> HashMap<&str, (&str, &str)> {
    let mut m: HashMap<&str, (&str, &str)> = agenda
        .participants
        .iter()
        .map(|p| (p.id.as_str(), (p.name.as_str(), p.country.as_str())))
        .collect();
    for r in &agenda.recommendations {
        m.entry(r.partner.as_str())
            .or_insert((r.partner_name.as_str(), r.partner_country.as_str()));
    }
    m
}

fn score(x: f32) -> String {
    format!("{x:.4}")
}

fn write_recommendations_csv(agenda: &Agenda, path: &Path) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    let res: std::result::Result<(), csv::Error> = (|| {
        w.write_record([
            "participant",
            "rank",
            "partner",
            "partner_name",
            "partner_country",
            "at_event",
            "mutual_score",
            "score_for_participant",
            "score_for_partner",
            "requested",
            "slot",
            "table",
            "unscheduled_reason",
            "why_for_participant",
            "why_for_partner",
        ])?;
        for r in &agenda.recommendations {
            w.write_record([
                r.participant.clone(),
                r.rank.to_string(),
                r.partner.clone(),
                r.partner_name.clone(),
                r.partner_country.clone(),
                r.at_event.to_string(),
                score(r.score),
                score(r.why_participant.score),
                score(r.why_partner.score),
                r.requested.map(|p| p.to_string()).unwrap_or_default(),
                r.scheduled.map(|s| s.0.to_string()).unwrap_or_default(),
                r.scheduled.map(|s| s.1.to_string()).unwrap_or_default(),
                r.unscheduled
                    .as_ref()
                    .map(|u| format!("{}: {}", u.reason.label(), u.detail))
                    .unwrap_or_default(),
                r.why_participant.reasons.join("; "),
                r.why_partner.reasons.join("; "),
            ])?;
        }
        w.flush()?;
        Ok(())
    })();
    res.map_err(|e| csv_err(path, e))
}

fn write_meetings_csv(agenda: &Agenda, path: &Path) -> Result<()> {
    let names = names(agenda);
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    let res: std::result::Result<(), csv::Error> = (|| {
        w.write_record([
            "slot",
            "start",
            "end",
            "table",
            "a",
            "a_name",
            "b",
            "b_name",
            "score",
            "requested",
            "locked",
        ])?;
        for m in &agenda.meetings {
            w.write_record([
                m.slot.to_string(),
                m.start.clone(),
                m.end.clone(),
                m.table.to_string(),
                m.a.clone(),
                names.get(m.a.as_str()).map(|n| n.0).unwrap_or("").into(),
                m.b.clone(),
                names.get(m.b.as_str()).map(|n| n.0).unwrap_or("").into(),
                score(m.score),
                m.requested.map(|p| p.to_string()).unwrap_or_default(),
                m.locked.to_string(),
            ])?;
        }
        w.flush()?;
        Ok(())
    })();
    res.map_err(|e| csv_err(path, e))
}

/// One participant's view of a meeting.
pub struct View<'a> {
    /// The meeting.
    pub meeting: &'a Meeting,
    /// The partner's id.
    pub partner: &'a str,
    /// Why the partner suits this participant.
    pub why_me: &'a super::Side,
    /// Why this participant suits the partner.
    pub why_them: &'a super::Side,
}

/// Every participant's meetings, in slot order.
pub fn by_participant(agenda: &Agenda) -> HashMap<&str, Vec<View<'_>>> {
    let mut m: HashMap<&str, Vec<View>> = HashMap::new();
    for x in &agenda.meetings {
        m.entry(x.a.as_str()).or_default().push(View {
            meeting: x,
            partner: &x.b,
            why_me: &x.why_a,
            why_them: &x.why_b,
        });
        m.entry(x.b.as_str()).or_default().push(View {
            meeting: x,
            partner: &x.a,
            why_me: &x.why_b,
            why_them: &x.why_a,
        });
    }
    for v in m.values_mut() {
        v.sort_by_key(|v| v.meeting.slot);
    }
    m
}

fn write_by_participant_csv(agenda: &Agenda, path: &Path) -> Result<()> {
    let names = names(agenda);
    let views = by_participant(agenda);
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    let res: std::result::Result<(), csv::Error> = (|| {
        w.write_record([
            "participant",
            "participant_name",
            "slot",
            "start",
            "end",
            "table",
            "partner",
            "partner_name",
            "partner_country",
            "score",
            "requested",
            "locked",
            "why",
        ])?;
        for p in &agenda.participants {
            for v in views.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                let (pn, pc) = names.get(v.partner).copied().unwrap_or(("", ""));
                w.write_record([
                    p.id.clone(),
                    p.name.clone(),
                    v.meeting.slot.to_string(),
                    v.meeting.start.clone(),
                    v.meeting.end.clone(),
                    v.meeting.table.to_string(),
                    v.partner.to_string(),
                    pn.to_string(),
                    pc.to_string(),
                    score(v.meeting.score),
                    v.meeting
                        .requested
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    v.meeting.locked.to_string(),
                    v.why_me.reasons.join("; "),
                ])?;
            }
        }
        w.flush()?;
        Ok(())
    })();
    res.map_err(|e| csv_err(path, e))
}

fn xlsx_err(path: &Path) -> impl Fn(XlsxError) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn write_xlsx(agenda: &Agenda, path: &Path) -> Result<()> {
    let err = xlsx_err(path);
    let names = names(agenda);
    let views = by_participant(agenda);
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let num = Format::new().set_num_format("0.000");
    let pct = Format::new().set_num_format("0.0%");

    let s = &agenda.stats;
    let sheet = book.add_worksheet().set_name("Summary").map_err(&err)?;
    let rows: Vec<(&str, f64, Option<&Format>)> = vec![
        ("participants", s.participants as f64, None),
        ("slots", s.slots as f64, None),
        ("tables", s.tables as f64, None),
        ("meetings", s.meetings as f64, None),
        ("kept from earlier agenda", s.locked as f64, None),
        ("requested pairs", s.requested as f64, None),
        (
            "requested pairs scheduled",
            s.requested_scheduled as f64,
            None,
        ),
        ("fill rate (tables)", s.fill_rate, Some(&pct)),
        ("fill rate (meeting caps)", s.demand_fill, Some(&pct)),
        ("total mutual score", s.total_score, Some(&num)),
        ("upper bound", s.upper_bound, Some(&num)),
        ("total / bound", s.ratio, Some(&pct)),
        (
            "participants without meetings",
            s.without_meetings as f64,
            None,
        ),
        ("idle gaps (slots)", s.idle_gaps as f64, None),
    ];
    sheet
        .write_with_format(0, 0, "figure", &bold)
        .map_err(&err)?;
    sheet
        .write_with_format(0, 1, "value", &bold)
        .map_err(&err)?;
    for (i, (k, v, f)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, *k).map_err(&err)?;
        match f {
            Some(f) => sheet.write_with_format(r, 1, *v, f).map_err(&err)?,
            None => sheet.write(r, 1, *v).map_err(&err)?,
        };
    }
    sheet.set_column_width(0, 32).map_err(&err)?;

    let sheet = book
        .add_worksheet()
        .set_name("By participant")
        .map_err(&err)?;
    let head = [
        "participant",
        "name",
        "slot",
        "start",
        "end",
        "table",
        "partner",
        "partner name",
        "score",
        "why",
    ];
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(&err)?;
    }
    let mut r = 1u32;
    for p in &agenda.participants {
        for v in views.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
            let pn = names.get(v.partner).map(|n| n.0).unwrap_or("");
            sheet.write(r, 0, &p.id).map_err(&err)?;
            sheet.write(r, 1, &p.name).map_err(&err)?;
            sheet.write(r, 2, v.meeting.slot as f64).map_err(&err)?;
            sheet.write(r, 3, &v.meeting.start).map_err(&err)?;
            sheet.write(r, 4, &v.meeting.end).map_err(&err)?;
            sheet.write(r, 5, v.meeting.table as f64).map_err(&err)?;
            sheet.write(r, 6, v.partner).map_err(&err)?;
            sheet.write(r, 7, pn).map_err(&err)?;
            sheet
                .write_with_format(r, 8, v.meeting.score as f64, &num)
                .map_err(&err)?;
            sheet
                .write(r, 9, v.why_me.reasons.join("; "))
                .map_err(&err)?;
            r += 1;
        }
    }
    sheet
        .autofilter(0, 0, r.saturating_sub(1).max(1), 9)
        .map_err(&err)?;
    sheet.set_freeze_panes(1, 0).map_err(&err)?;

    let sheet = book.add_worksheet().set_name("By table").map_err(&err)?;
    let head = [
        "slot", "start", "end", "table", "a", "a name", "b", "b name", "score",
    ];
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(&err)?;
    }
    let mut ms: Vec<&Meeting> = agenda.meetings.iter().collect();
    ms.sort_by_key(|m| (m.table, m.slot));
    for (i, m) in ms.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, m.slot as f64).map_err(&err)?;
        sheet.write(r, 1, &m.start).map_err(&err)?;
        sheet.write(r, 2, &m.end).map_err(&err)?;
        sheet.write(r, 3, m.table as f64).map_err(&err)?;
        sheet.write(r, 4, &m.a).map_err(&err)?;
        sheet
            .write(r, 5, names.get(m.a.as_str()).map(|n| n.0).unwrap_or(""))
            .map_err(&err)?;
        sheet.write(r, 6, &m.b).map_err(&err)?;
        sheet
            .write(r, 7, names.get(m.b.as_str()).map(|n| n.0).unwrap_or(""))
            .map_err(&err)?;
        sheet
            .write_with_format(r, 8, m.score as f64, &num)
            .map_err(&err)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(&err)?;

    // slot × table grid (capped in width: xlsx has 16,384 columns)
    let sheet = book.add_worksheet().set_name("Grid").map_err(&err)?;
    let tables = agenda.stats.tables.min(16_000);
    sheet.write_with_format(0, 0, "slot", &bold).map_err(&err)?;
    for t in 0..tables {
        sheet
            .write_with_format(0, t as u16 + 1, format!("table {}", t + 1), &bold)
            .map_err(&err)?;
    }
    for s in &agenda.slots {
        sheet
            .write(s.number as u32, 0, format!("{} {}", s.number, s.start))
            .map_err(&err)?;
    }
    for m in &agenda.meetings {
        if m.table <= tables {
            sheet
                .write(m.slot as u32, m.table as u16, format!("{} / {}", m.a, m.b))
                .map_err(&err)?;
        }
    }
    sheet.set_freeze_panes(1, 1).map_err(&err)?;

    let sheet = book
        .add_worksheet()
        .set_name("Recommendations")
        .map_err(&err)?;
    let head = [
        "participant",
        "rank",
        "partner",
        "partner name",
        "country",
        "mutual score",
        "slot",
        "table",
        "why not scheduled",
    ];
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(&err)?;
    }
    for (i, x) in agenda.recommendations.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, &x.participant).map_err(&err)?;
        sheet.write(r, 1, x.rank as f64).map_err(&err)?;
        sheet.write(r, 2, &x.partner).map_err(&err)?;
        sheet.write(r, 3, &x.partner_name).map_err(&err)?;
        sheet.write(r, 4, &x.partner_country).map_err(&err)?;
        sheet
            .write_with_format(r, 5, x.score as f64, &num)
            .map_err(&err)?;
        if let Some((s, t)) = x.scheduled {
            sheet.write(r, 6, s as f64).map_err(&err)?;
            sheet.write(r, 7, t as f64).map_err(&err)?;
        }
        if let Some(u) = &x.unscheduled {
            sheet
                .write(r, 8, format!("{}: {}", u.reason.label(), u.detail))
                .map_err(&err)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(&err)?;

    let sheet = book.add_worksheet().set_name("Unscheduled").map_err(&err)?;
    let head = ["a", "b", "mutual score", "requested", "reason", "detail"];
    for (c, h) in head.iter().enumerate() {
        sheet
            .write_with_format(0, c as u16, *h, &bold)
            .map_err(&err)?;
    }
    for (i, u) in agenda.unscheduled.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, &u.a).map_err(&err)?;
        sheet.write(r, 1, &u.b).map_err(&err)?;
        sheet
            .write_with_format(r, 2, u.score as f64, &num)
            .map_err(&err)?;
        if let Some(p) = u.requested {
            sheet.write(r, 3, p as f64).map_err(&err)?;
        }
        sheet.write(r, 4, u.reason.label()).map_err(&err)?;
        sheet.write(r, 5, &u.detail).map_err(&err)?;
    }
    book.save(path).map_err(&err)
}

/// The event date used in calendars: the given date, or today.
pub fn event_date(agenda: &Agenda) -> NaiveDate {
    agenda
        .date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or_else(|| chrono::Local::now().date_naive())
}

fn at(date: NaiveDate, hhmm: &str) -> NaiveDateTime {
    let c = Clock::parse(hhmm).unwrap_or(Clock(0));
    let (h, m) = (c.0 / 60, c.0 % 60);
    match NaiveTime::from_hms_opt(h.min(23), if h >= 24 { 59 } else { m }, 0) {
        Some(t) => date.and_time(t),
        None => date.and_time(NaiveTime::MIN),
    }
}

/// One calendar per participant in `dir/<id>.ics` (floating local times on the event date).
pub fn write_ics(agenda: &Agenda, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let date = event_date(agenda);
    let stamp = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
    let names = names(agenda);
    let views = by_participant(agenda);
    let title = if agenda.name.is_empty() {
        "Matchmaking event".to_string()
    } else {
        agenda.name.clone()
    };
    let mut out = Vec::new();
    for p in &agenda.participants {
        let mut cal = Calendar::new();
        cal.name(&format!("{title}: {}", p.name));
        for v in views.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
            let m = v.meeting;
            let (pn, pc) = names.get(v.partner).copied().unwrap_or(("", ""));
            let mut desc = format!("Meeting with {pn} ({pc}), mutual score {:.2}.", m.score);
            if !v.why_me.reasons.is_empty() {
                desc.push_str("\nWhy: ");
                desc.push_str(&v.why_me.reasons.join("; "));
            }
            let event = icalendar::Event::new()
                .uid(&format!("{}-{}-slot{}@clustermatch", m.a, m.b, m.slot))
                .timestamp(stamp)
                .summary(&format!("{title}: meeting with {pn}"))
                .description(&desc)
                .location(&format!("Table {}", m.table))
                .starts(at(date, &m.start))
                .ends(at(date, &m.end))
                .done();
            cal.push(event);
        }
        let path = dir.join(format!("{}.ics", p.id));
        fs::write(&path, cal.done().to_string()).map_err(io(&path))?;
        out.push(path);
    }
    Ok(out)
}
