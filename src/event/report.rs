//! The HTML report: one self-contained page (inline CSS, no script, no network) that an
//! organiser can open, print or mail: the event summary (participants by country and sector,
//! meetings, fill rate, total score against its upper bound, idle gaps), the agenda grid (slots
//! × tables), every participant's agenda with why each meeting was proposed, and the pairs that
//! were recommended or requested but not scheduled, with the reason.

use std::collections::HashMap;
use std::fmt::Write;

use super::export::by_participant;
use super::Agenda;

/// Escapes text for HTML.
///
/// ```
/// assert_eq!(clustermatch::event::report::esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;margin:0;background:#f4f6f9}
header{background:#123a5e;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.85}
main{padding:20px 32px;max-width:1600px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin:0 0 20px}
h2{font-size:18px;margin:0 0 12px;color:#123a5e}
h3{font-size:15px;margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
.card{background:#eef3f8;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:22px;color:#123a5e}
.card span{font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.03em}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:20px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e8ee;vertical-align:top}
th{background:#f0f3f7;font-weight:600;position:sticky;top:0}
.bar{background:#5b8fc7;height:10px;border-radius:2px;display:inline-block;vertical-align:middle}
.num{text-align:right;font-variant-numeric:tabular-nums}
.gridwrap{overflow:auto;max-height:800px;border:1px solid #e3e8ee}
table.grid{width:auto}
table.grid td,table.grid th{border:1px solid #e3e8ee;font-size:12px;min-width:120px}
table.grid th.slot{min-width:90px;position:sticky;left:0;background:#f0f3f7;z-index:1}
td.m{background:#e6f0fa}
td.m.req{background:#fdf1d8}
td.m.lock{background:#e4f4e4}
td.m small{color:#52606d}
td.m .n{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:170px}
td.m .n+.n{border-top:1px dashed #b9c8d8}
details{border-bottom:1px solid #e3e8ee;padding:6px 0}
summary{cursor:pointer}
summary .meta{color:#52606d;font-size:12px;margin-left:8px}
ul.why{margin:2px 0 0;padding-left:18px;color:#3e4c59;font-size:12px}
.tag{display:inline-block;font-size:11px;padding:1px 6px;border-radius:10px;background:#e3e8ee;margin-left:4px}
.tag.req{background:#f7d58b}
.tag.lock{background:#a8dba8}
.legend span{display:inline-block;padding:2px 8px;margin-right:8px;border-radius:3px;font-size:12px}
.note{color:#52606d;font-size:12px}
@media print{body{background:#fff}section{box-shadow:none}.gridwrap{max-height:none;overflow:visible}}
"#;

/// Renders the report.
pub fn render(agenda: &Agenda) -> String {
    let s = &agenda.stats;
    let mut h = String::with_capacity(64 * 1024 + agenda.meetings.len() * 600);
    let title = if agenda.name.is_empty() {
        "Matchmaking event".to_string()
    } else {
        agenda.name.clone()
    };
    let names: HashMap<&str, &str> = agenda
        .participants
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let country: HashMap<&str, &str> = agenda
        .participants
        .iter()
        .map(|p| (p.id.as_str(), p.country.as_str()))
        .collect();
    let name = |id: &str| names.get(id).copied().unwrap_or(id).to_string();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} — agenda</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let first = agenda
        .slots
        .first()
        .map(|x| x.start.to_string())
        .unwrap_or_default();
    let last = agenda
        .slots
        .last()
        .map(|x| x.end.to_string())
        .unwrap_or_default();
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>{}{} slots from {first} to {last} · {} tables · {} participants</p></header><main>",
        esc(&title),
        agenda.date.as_ref().map(|d| format!("{} · ", esc(d))).unwrap_or_default(),
        s.slots,
        s.tables,
        s.participants
    );

    // Summary
    h.push_str("<section id=\"summary\"><h2>Event summary</h2><div class=\"cards\">");
    let card = |h: &mut String, v: String, label: &str| {
        let _ = write!(
            h,
            "<div class=\"card\"><b>{v}</b><span>{label}</span></div>"
        );
    };
    card(&mut h, s.participants.to_string(), "participants");
    card(&mut h, s.meetings.to_string(), "meetings scheduled");
    card(
        &mut h,
        format!("{:.1}%", s.fill_rate * 100.0),
        "fill rate (table slots)",
    );
    card(
        &mut h,
        format!("{:.1}%", s.demand_fill * 100.0),
        "fill rate (meeting caps)",
    );
    card(
        &mut h,
        format!("{:.2}", s.total_score),
        "total mutual score",
    );
    card(&mut h, format!("{:.2}", s.upper_bound), "upper bound");
    card(&mut h, format!("{:.1}%", s.ratio * 100.0), "total / bound");
    card(&mut h, s.without_meetings.to_string(), "without a meeting");
    card(&mut h, s.idle_gaps.to_string(), "idle gaps (slots)");
    card(
        &mut h,
        format!("{} / {}", s.requested_scheduled, s.requested),
        "requested pairs met",
    );
    card(&mut h, s.locked.to_string(), "kept from earlier agenda");
    h.push_str("</div><p class=\"note\">The upper bound comes from a relaxation (meeting caps, shared availability and table capacity, without the one-meeting-per-slot rule) over agendas that keep the requested and kept meetings, which the rules place first: no such agenda can score more, so total / bound is a floor on how close to optimal this agenda is. Idle gaps count free slots between a participant's first and last meeting.</p>");
    h.push_str("<div class=\"cols\">");
    for (label, list) in [
        ("Participants by country", &s.by_country),
        ("Participants by sector", &s.by_sector),
    ] {
        let max = list.iter().map(|x| x.1).max().unwrap_or(1).max(1);
        let _ = write!(
            h,
            "<div><h3>{label}</h3><table><tr><th>{}</th><th class=\"num\">n</th><th></th></tr>",
            if label.ends_with("country") {
                "country"
            } else {
                "sector"
            }
        );
        for (k, v) in list.iter().take(20) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{v}</td><td><span class=\"bar\" style=\"width:{}px\"></span></td></tr>",
                esc(if k.is_empty() { "(none)" } else { k }),
                (v * 160 / max).max(2)
            );
        }
        if list.len() > 20 {
            let _ = write!(
                h,
                "<tr><td colspan=\"3\" class=\"note\">… and {} more</td></tr>",
                list.len() - 20
            );
        }
        h.push_str("</table></div>");
    }
    h.push_str("</div></section>");

    // Grid
    let used_tables = agenda.meetings.iter().map(|m| m.table).max().unwrap_or(0);
    h.push_str("<section id=\"grid\"><h2>Agenda grid</h2><p class=\"legend\"><span style=\"background:#e6f0fa\">proposed</span><span style=\"background:#fdf1d8\">requested</span><span style=\"background:#e4f4e4\">kept from earlier agenda</span></p><div class=\"gridwrap\"><table class=\"grid\" id=\"agenda-grid\"><thead><tr><th class=\"slot\">slot</th>");
    for t in 1..=used_tables {
        let _ = write!(h, "<th>table {t}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    let mut cell: HashMap<(usize, usize), &super::Meeting> = HashMap::new();
    for m in &agenda.meetings {
        cell.insert((m.slot, m.table), m);
    }
    for slot in &agenda.slots {
        let _ = write!(
            h,
            "<tr><th class=\"slot\">{} · {}–{}</th>",
            slot.number, slot.start, slot.end
        );
        for t in 1..=used_tables {
            match cell.get(&(slot.number, t)) {
                Some(m) => {
                    let class = if m.locked {
                        "m lock"
                    } else if m.requested.is_some() {
                        "m req"
                    } else {
                        "m"
                    };
                    let _ = write!(
                        h,
                        "<td class=\"{class}\" title=\"{} — {} · mutual score {:.2}\"><div class=\"n\">{}</div><div class=\"n\">{}</div><small>{:.2}</small></td>",
                        esc(&name(&m.a)),
                        esc(&name(&m.b)),
                        m.score,
                        esc(&name(&m.a)),
                        esc(&name(&m.b)),
                        m.score
                    );
                }
                None => h.push_str("<td></td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div></section>");

    // Participants
    let views = by_participant(agenda);
    h.push_str("<section id=\"participants\"><h2>Participants' agendas</h2>");
    for p in &agenda.participants {
        let mine = views.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let _ = write!(
            h,
            "<details><summary><b>{}</b><span class=\"meta\">{} · {} · {} meeting{} (cap {}) · {} idle gap{}</span></summary>",
            esc(&p.name),
            esc(&p.id),
            esc(&p.country),
            mine.len(),
            if mine.len() == 1 { "" } else { "s" },
            p.max_meetings,
            p.idle_gaps,
            if p.idle_gaps == 1 { "" } else { "s" }
        );
        if mine.is_empty() {
            h.push_str("<p class=\"note\">No meeting: see the unscheduled pairs below.</p>");
        } else {
            h.push_str("<table><tr><th>time</th><th>table</th><th>partner</th><th class=\"num\">score</th><th>why this meeting</th></tr>");
            for v in mine {
                let m = v.meeting;
                let mut tags = String::new();
                if let Some(pr) = m.requested {
                    let _ = write!(
                        tags,
                        "<span class=\"tag req\">requested (priority {pr})</span>"
                    );
                }
                if m.locked {
                    tags.push_str("<span class=\"tag lock\">kept</span>");
                }
                let _ = write!(
                    h,
                    "<tr><td>{}–{}</td><td>{}</td><td>{} <span class=\"tag\">{}</span>{tags}</td><td class=\"num\">{:.2}</td><td>",
                    m.start,
                    m.end,
                    m.table,
                    esc(&name(v.partner)),
                    esc(country.get(v.partner).copied().unwrap_or("")),
                    m.score
                );
                let _ = write!(
                    h,
                    "<div>for {} ({:.2}):</div><ul class=\"why\">",
                    esc(&p.name),
                    v.why_me.score
                );
                for r in &v.why_me.reasons {
                    let _ = write!(h, "<li>{}</li>", esc(r));
                }
                let _ = write!(
                    h,
                    "</ul><div>for {} ({:.2}):</div><ul class=\"why\">",
                    esc(&name(v.partner)),
                    v.why_them.score
                );
                for r in &v.why_them.reasons {
                    let _ = write!(h, "<li>{}</li>", esc(r));
                }
                h.push_str("</ul></td></tr>");
            }
            h.push_str("</table>");
        }
        h.push_str("</details>");
    }
    h.push_str("</section>");

    // Unscheduled
    let _ = write!(
        h,
        "<section id=\"unscheduled\"><h2>Recommended or requested pairs without a meeting ({})</h2>",
        agenda.unscheduled.len()
    );
    if agenda.unscheduled.is_empty() {
        h.push_str("<p class=\"note\">Every recommended and requested pair has a meeting.</p>");
    } else {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for u in &agenda.unscheduled {
            *counts.entry(u.reason.label()).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        h.push_str("<p>");
        for (k, v) in counts {
            let _ = write!(h, "<span class=\"tag\">{} × {v}</span> ", esc(k));
        }
        h.push_str("</p><table><tr><th>pair</th><th class=\"num\">score</th><th>reason</th><th>detail</th></tr>");
        for u in agenda.unscheduled.iter().take(5000) {
            let req = u
                .requested
                .map(|p| format!("<span class=\"tag req\">requested ({p})</span>"))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{} — {}{req}</td><td class=\"num\">{:.2}</td><td>{}</td><td>{}</td></tr>",
                esc(&name(&u.a)),
                esc(&name(&u.b)),
                u.score,
                esc(u.reason.label()),
                esc(&u.detail)
            );
        }
        if agenda.unscheduled.len() > 5000 {
            let _ = write!(
                h,
                "<tr><td colspan=\"4\" class=\"note\">… {} more in recommendations.csv</td></tr>",
                agenda.unscheduled.len() - 5000
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
    let _ = writeln!(
        h,
        "<p class=\"note\">Made by clustermatch · {} candidate pairs scored.</p></main></body></html>",
        s.pairs_scored
    );
    h
}
