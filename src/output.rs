//! Output formats for results: an aligned text table for people, JSON (the shape documented in
//! README and DESIGN) and CSV for spreadsheets.

use std::io::Write;

use serde::Serialize;

use crate::rank::MatchResult;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// JSON.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Renders rows as aligned columns with a header and a rule.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn component(v: Option<f32>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into())
}

/// Writes a match result in a format.
pub fn write_matches<W: Write>(
    out: &mut W,
    r: &MatchResult,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            writeln!(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "query",
                "rank",
                "id",
                "name",
                "country",
                "kind",
                "score",
                "text",
                "sector",
                "country_score",
                "reasons",
            ])?;
            let q = r.query.id.clone().unwrap_or_default();
            for m in &r.matches {
                w.write_record([
                    q.clone(),
                    m.rank.to_string(),
                    m.id.clone(),
                    m.name.clone(),
                    m.country.clone(),
                    m.kind.to_string(),
                    format!("{:.4}", m.score),
                    component(m.components.text),
                    component(m.components.sector),
                    component(m.components.country),
                    m.reasons.join("; "),
                ])?;
            }
            w.flush()
        }
        Format::Table => {
            let q = &r.query;
            let who = match (&q.id, &q.country) {
                (Some(id), Some(c)) => format!("{} ({id}, {c})", q.name),
                (Some(id), None) => format!("{} ({id})", q.name),
                (None, Some(c)) => format!("{} ({c})", q.name),
                (None, None) => q.name.clone(),
            };
            let sectors = if q.sectors.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{}{}",
                    q.sectors.join(", "),
                    if q.sectors_inferred {
                        " (inferred from text)"
                    } else {
                        ""
                    }
                )
            };
            writeln!(out, "Partners for {who}")?;
            writeln!(out, "sectors: {sectors}")?;
            writeln!(
                out,
                "weights: text {:.2}, sector {:.2}, country {:.2}; {} candidates",
                q.weights.text, q.weights.sector, q.weights.country, q.candidates
            )?;
            writeln!(out)?;
            let rows: Vec<Vec<String>> = r
                .matches
                .iter()
                .map(|m| {
                    vec![
                        m.rank.to_string(),
                        format!("{:.3}", m.score),
                        m.id.clone(),
                        m.country.clone(),
                        component(m.components.text),
                        component(m.components.sector),
                        component(m.components.country),
                        m.reasons.join("; "),
                    ]
                })
                .collect();
            out.write_all(
                table(
                    &[
                        "#", "score", "id", "cc", "text", "sector", "country", "reasons",
                    ],
                    &rows,
                )
                .as_bytes(),
            )?;
            for m in r.matches.iter().filter(|m| m.explanation.is_some()) {
                if let Some(e) = &m.explanation {
                    writeln!(out, "\n{} — {}:\n{}", m.rank, m.id, e.to_text().trim_end())?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxxx  y\n");
    }
}
