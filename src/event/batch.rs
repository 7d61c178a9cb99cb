//! Planning an event: batch ranking (in parallel, with rayon), mutual scores, the schedule and
//! its bound, and the reasons of every pair shown — assembled into an [`Agenda`].
//!
//! Ranking is exact and memory-light. Pass 1 scores every participant against the pool and
//! keeps its best `candidates` partners (the bulk path: no reasons, no names). The union of
//! these lists is the set of candidate pairs; pass 2 fills in the reverse direction of every
//! pair that only one side listed, so each mutual score is the true harmonic mean of the two
//! directed scores. A pair outside every list scores at most the harmonic mean of the two
//! lists' cut-offs, which the bound accounts for. Pass 3 explains only the pairs the outputs
//! show (recommendations, meetings, unscheduled requests).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::schedule::{self, Edge, Problem, UnscheduledReason};
use super::{
    Agenda, EventShape, LockedMeeting, Meeting, Participant, ParticipantSummary, Recommendation,
    RequestKind, Side, Stats, Timing, Unscheduled,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::index::Snapshot;
use crate::profile::Profile;
use crate::rank::{self, ResolvedQuery};
use crate::score::{self, ScoringParams};
use crate::taxonomy::taxonomy;

use super::Request;

/// Stages reported to a [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Indexing participants in memory.
    Index,
    /// Ranking every participant.
    Rank,
    /// Scoring the reverse direction of listed pairs.
    Reverse,
    /// Scheduling and the bound.
    Schedule,
    /// Reasons for the pairs shown.
    Explain,
}

impl Stage {
    /// A label for progress bars.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Index => "indexing",
            Stage::Rank => "ranking",
            Stage::Reverse => "mutual scores",
            Stage::Schedule => "scheduling",
            Stage::Explain => "reasons",
        }
    }
}

/// Receives progress (a progress bar in the CLI; nothing by default).
pub trait Progress: Sync {
    /// A stage starts with `total` steps.
    fn stage(&self, _stage: Stage, _total: u64) {}
    /// `n` more steps are done.
    fn advance(&self, _n: u64) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanOptions {
    /// Partners kept per participant in the ranking pass (candidate pairs for the schedule).
    pub candidates: usize,
    /// Recommendations shown per participant.
    pub recommendations: usize,
    /// Scoring parameters.
    pub params: ScoringParams,
    /// Meetings kept from an earlier agenda.
    pub locked: Vec<LockedMeeting>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            candidates: 60,
            recommendations: 10,
            params: ScoringParams::default(),
            locked: Vec::new(),
        }
    }
}

/// Plans an event among its participants (an in-memory index of their profiles).
pub fn plan(
    participants: &[Participant],
    requests: &[Request],
    shape: &EventShape,
    opts: &PlanOptions,
) -> Result<Agenda> {
    plan_with(participants, requests, shape, opts, None, &NoProgress)
}

/// Plans an event; with `against`, every participant is ranked against that whole index (plus
/// the participants), and recommendations may name organisations that are not at the event.
pub fn plan_with(
    participants: &[Participant],
    requests: &[Request],
    shape: &EventShape,
    opts: &PlanOptions,
    against: Option<&Engine>,
    progress: &dyn Progress,
) -> Result<Agenda> {
    shape.check()?;
    opts.params.check().map_err(Error::Usage)?;
    let slots = shape.slots();
    let n = participants.len();
    if n == 0 {
        return Err(Error::Usage("no participants".into()));
    }
    let pos: HashMap<&str, usize> = participants
        .iter()
        .enumerate()
        .map(|(i, p)| (p.profile.id.as_str(), i))
        .collect();
    if pos.len() != n {
        let mut seen = HashSet::new();
        let dup = participants
            .iter()
            .find(|p| !seen.insert(&p.profile.id))
            .map(|p| p.profile.id.clone())
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "participant \"{dup}\" is listed twice"
        )));
    }
    let all_slots: u128 = if slots.len() >= 128 {
        u128::MAX
    } else {
        (1u128 << slots.len()) - 1
    };
    let mut avail = Vec::with_capacity(n);
    let mut caps = Vec::with_capacity(n);
    for p in participants {
        let mut bits = 0u128;
        match &p.availability {
            None => bits = all_slots,
            Some(list) => {
                for &s in list {
                    if s == 0 || s > slots.len() {
                        return Err(Error::Usage(format!(
                            "participant \"{}\": availability slot {s} does not exist (slots 1 to {})",
                            p.profile.id,
                            slots.len()
                        )));
                    }
                    bits |= 1 << (s - 1);
                }
            }
        }
        avail.push(bits);
        caps.push(p.max_meetings.unwrap_or(shape.max_meetings));
    }
    let tables = shape.tables.unwrap_or((n / 2).max(1));
    let (requested, apart) = check_requests(requests, &pos)?;
    let t0 = Instant::now();

    // The engine: participants alone, or the index plus the participants.
    progress.stage(Stage::Index, n as u64);
    let engine = Engine::in_memory()?.with_params(opts.params.clone())?;
    let mut profiles: Vec<Profile> = Vec::new();
    if let Some(index) = against {
        let snap = index.index().snapshot();
        for row in snap.live_rows() {
            let p = index.index().profile_at(&snap, row)?;
            if !pos.contains_key(p.id.as_str()) {
                profiles.push(p);
            }
        }
    }
    profiles.extend(participants.iter().map(|p| p.profile.clone()));
    engine.upsert(&profiles)?;
    drop(profiles);
    progress.advance(n as u64);
    let snap = engine.index().snapshot();
    let row_of: Vec<u32> = participants
        .iter()
        .map(|p| snap.row_of_id(&p.profile.id).unwrap_or(u32::MAX))
        .collect();
    let mut part_of_row: Vec<u32> = vec![u32::MAX; snap.rows.len()];
    for (i, &r) in row_of.iter().enumerate() {
        if let Some(slot) = part_of_row.get_mut(r as usize) {
            *slot = i as u32;
        }
    }
    let t_index = t0.elapsed().as_secs_f64();

    // Pass 1: every participant against the pool.
    let t1 = Instant::now();
    let k = opts.candidates.max(opts.recommendations).max(1);
    let r_out = opts.recommendations;
    progress.stage(Stage::Rank, n as u64);
    let params = engine.params().clone();
    // Small enough: keep every participant's full row, so pass 2 is only needed for
    // organisations outside the event (ranking against the index).
    let keep_rows = (n as u64) * (snap.rows.len() as u64) <= KEEP_ROWS_MAX;
    let pass1: Vec<Ranked> = (0..n)
        .into_par_iter()
        .map(|i| -> Result<Ranked> {
            let q = query_of(&snap, row_of[i], participants[i].profile.clone());
            let row = rank::score_rows(engine.index(), &snap, &q, &params)?;
            let mut mine: Vec<(u32, f32)> = Vec::new();
            let mut others: Vec<(u32, f32)> = Vec::new();
            for (r, &s) in row.iter().enumerate() {
                if s > 0.0 {
                    if part_of_row[r] != u32::MAX {
                        mine.push((r as u32, s));
                    } else {
                        others.push((r as u32, s));
                    }
                }
            }
            let by = |x: &(u32, f32), y: &(u32, f32)| {
                y.1.total_cmp(&x.1)
                    .then_with(|| snap.id_of(x.0).cmp(snap.id_of(y.0)))
            };
            let cutoff = top_k(&mut mine, k, by);
            top_k(&mut others, r_out, by);
            mine.extend(others);
            // requested partners are always scored
            if let Some(list) = requested.get(&i) {
                for &(j, _) in list {
                    let r = row_of[j];
                    if !mine.iter().any(|m| m.0 == r) {
                        mine.push((r, row[r as usize]));
                    }
                }
            }
            progress.advance(1);
            Ok((mine, cutoff, if keep_rows { row } else { Vec::new() }))
        })
        .collect::<Result<Vec<_>>>()?;
    let cutoff: Vec<f32> = pass1.iter().map(|p| p.1).collect();
    // directed scores of pairs (by rows, ordered)
    let mut pairs: HashMap<(u32, u32), [f32; 2]> = HashMap::new();
    for (i, (list, _, _)) in pass1.iter().enumerate() {
        let ri = row_of[i];
        for &(rj, s) in list {
            let (key, side) = ordered(ri, rj);
            pairs.entry(key).or_insert([f32::NAN; 2])[side] = s;
        }
    }
    if keep_rows {
        for (&(x, y), s) in pairs.iter_mut() {
            for (side, from, to) in [(0, x, y), (1, y, x)] {
                let p = part_of_row[from as usize];
                if s[side].is_nan() && p != u32::MAX {
                    s[side] = pass1[p as usize].2[to as usize];
                }
            }
        }
    }
    drop(pass1);
    // Locked meetings are pairs too.
    let mut locked_pairs = Vec::new();
    for l in &opts.locked {
        let (Some(&a), Some(&b)) = (pos.get(l.a.as_str()), pos.get(l.b.as_str())) else {
            return Err(Error::Usage(format!(
                "kept meeting in slot {} at table {}: \"{}\" or \"{}\" is not a participant",
                l.slot, l.table, l.a, l.b
            )));
        };
        let (key, _) = ordered(row_of[a], row_of[b]);
        pairs.entry(key).or_insert([f32::NAN; 2]);
        locked_pairs.push((a, b, l));
    }
    // Pass 2: the missing directions.
    let mut needs: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&(x, y), s) in &pairs {
        if s[0].is_nan() {
            needs.entry(x).or_default().push(y);
        }
        if s[1].is_nan() {
            needs.entry(y).or_default().push(x);
        }
    }
    progress.stage(Stage::Reverse, needs.len() as u64);
    let needs: Vec<(u32, Vec<u32>)> = needs.into_iter().collect();
    let filled: Vec<Vec<(u32, u32, f32)>> = needs
        .par_iter()
        .map(|(x, targets)| -> Result<Vec<(u32, u32, f32)>> {
            let profile = match part_of_row[*x as usize] {
                u32::MAX => engine.index().profile_at(&snap, *x)?,
                i => participants[i as usize].profile.clone(),
            };
            let q = query_of(&snap, *x, profile);
            let row = rank::score_rows(engine.index(), &snap, &q, &params)?;
            progress.advance(1);
            Ok(targets.iter().map(|&y| (*x, y, row[y as usize])).collect())
        })
        .collect::<Result<Vec<_>>>()?;
    for (x, y, s) in filled.into_iter().flatten() {
        let (key, side) = ordered(x, y);
        if let Some(e) = pairs.get_mut(&key) {
            e[side] = s;
        }
    }
    let pairs_scored = pairs.len();
    let t_rank = t1.elapsed().as_secs_f64();

    // The scheduling problem among participants.
    let t2 = Instant::now();
    progress.stage(Stage::Schedule, 1);
    let mut keys: Vec<(u32, u32)> = pairs.keys().copied().collect();
    // Edges in the order of the participants, not of index rows: rows depend on how tantivy's
    // indexing threads split the documents into segments, and the bound sums over the edges in
    // this order, so the last bits of `upper_bound` changed from run to run (found by the
    // `planner` fuzz target).
    keys.sort_unstable_by_key(|&(x, y)| {
        let (pa, pb) = (part_of_row[x as usize], part_of_row[y as usize]);
        (pa.min(pb), pa.max(pb), x, y)
    });
    let mut edges = Vec::new();
    let mut edge_of: HashMap<(usize, usize), usize> = HashMap::new();
    let mut mutual_of: HashMap<(u32, u32), f32> = HashMap::with_capacity(keys.len());
    let locked_set: HashSet<(usize, usize)> = locked_pairs
        .iter()
        .map(|&(a, b, _)| (a.min(b), a.max(b)))
        .collect();
    for key in &keys {
        let s = pairs[key];
        let m = score::mutual(s[0], s[1]);
        mutual_of.insert(*key, m);
        let (pa, pb) = (part_of_row[key.0 as usize], part_of_row[key.1 as usize]);
        if pa == u32::MAX || pb == u32::MAX {
            continue;
        }
        let (a, b) = (pa.min(pb) as usize, pa.max(pb) as usize);
        let priority = request_priority(&requested, a, b);
        let is_locked = locked_set.contains(&(a, b));
        if apart.contains_key(&(a, b)) {
            if is_locked {
                return Err(Error::Usage(format!(
                    "kept meeting {} / {} is a pair to keep apart; remove one of the two",
                    participants[a].profile.id, participants[b].profile.id
                )));
            }
            continue;
        }
        if m >= shape.min_score || priority > 0 || is_locked {
            edge_of.insert((a, b), edges.len());
            edges.push(Edge {
                a: a as u32,
                b: b as u32,
                w: m,
                priority,
            });
        }
    }
    let mut locked = Vec::new();
    let mut table_used: HashSet<(usize, usize)> = HashSet::new();
    let mut who_busy: HashSet<(usize, usize)> = HashSet::new();
    let mut kept_slot: HashMap<(usize, usize), usize> = HashMap::new();
    for &(a, b, l) in &locked_pairs {
        let bad = |m: String| {
            Err(Error::Usage(format!(
                "kept meeting {} / {} in slot {} at table {}: {m}",
                l.a, l.b, l.slot, l.table
            )))
        };
        if l.slot == 0 || l.slot > slots.len() {
            return bad(format!(
                "slot {} does not exist (slots 1 to {})",
                l.slot,
                slots.len()
            ));
        }
        if l.table == 0 || l.table > tables {
            return bad(format!(
                "table {} does not exist (tables 1 to {tables})",
                l.table
            ));
        }
        if a == b {
            return bad("a participant cannot meet itself".into());
        }
        let s = l.slot - 1;
        // A pair meets at most once: a second kept meeting of the same pair would be dropped.
        if let Some(other) = kept_slot.insert((a.min(b), a.max(b)), l.slot) {
            return bad(format!(
                "the pair already has a kept meeting in slot {other}; a pair meets once"
            ));
        }
        for v in [a, b] {
            if avail[v] >> s & 1 == 0 {
                return bad(format!(
                    "\"{}\" is not available in slot {}",
                    participants[v].profile.id, l.slot
                ));
            }
            if !who_busy.insert((v, s)) {
                return bad(format!(
                    "\"{}\" has another kept meeting in slot {}",
                    participants[v].profile.id, l.slot
                ));
            }
        }
        if !table_used.insert((s, l.table - 1)) {
            return bad("the table is taken by another kept meeting".into());
        }
        let e = edge_of[&(a.min(b), a.max(b))];
        locked.push((e, s, l.table - 1));
    }
    // Kept meetings count against caps; a cap below them is raised to fit.
    let mut kept_count = vec![0usize; n];
    for &(e, _, _) in &locked {
        kept_count[edges[e].a as usize] += 1;
        kept_count[edges[e].b as usize] += 1;
    }
    for v in 0..n {
        caps[v] = caps[v].max(kept_count[v]);
    }
    let problem = Problem {
        n,
        slots: slots.len(),
        tables,
        avail: avail.clone(),
        caps: caps.clone(),
        edges,
        locked,
        cutoff,
        min_score: shape.min_score,
    };
    let placed = schedule::solve(&problem);
    let total: f64 = placed.iter().map(|m| problem.edges[m.edge].w as f64).sum();
    // Requested and kept meetings come first by rule; the bound is over agendas that keep them.
    let fixed: Vec<schedule::Placed> = placed
        .iter()
        .filter(|m| {
            problem.edges[m.edge].priority > 0 || problem.locked.iter().any(|l| l.0 == m.edge)
        })
        .copied()
        .collect();
    let bound = schedule::upper_bound_given(&problem, total, &fixed);
    progress.advance(1);
    let t_schedule = t2.elapsed().as_secs_f64();

    // What the outputs show: recommendations, meetings, requested pairs.
    let t3 = Instant::now();
    let mut recs_of: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for (key, m) in &mutual_of {
        for (me, other) in [(key.0, key.1), (key.1, key.0)] {
            let p = part_of_row[me as usize];
            if p != u32::MAX && *m > 0.0 {
                recs_of[p as usize].push((other, *m));
            }
        }
    }
    for list in recs_of.iter_mut() {
        list.sort_by(|x, y| {
            y.1.total_cmp(&x.1)
                .then_with(|| snap.id_of(x.0).cmp(snap.id_of(y.0)))
        });
        list.truncate(r_out);
    }
    let mut shown: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut show = |x: u32, y: u32| {
        shown.entry(x).or_default().push(y);
        shown.entry(y).or_default().push(x);
    };
    for (i, list) in recs_of.iter().enumerate() {
        for &(r, _) in list {
            show(row_of[i], r);
        }
    }
    for m in &placed {
        let e = problem.edges[m.edge];
        show(row_of[e.a as usize], row_of[e.b as usize]);
    }
    for (&i, list) in &requested {
        for &(j, _) in list {
            show(row_of[i], row_of[j]);
        }
    }
    let shown: Vec<(u32, Vec<u32>)> = shown
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            v.dedup();
            (k, v)
        })
        .collect();
    progress.stage(Stage::Explain, shown.len() as u64);
    let explained: Vec<Vec<Explained>> = shown
        .par_iter()
        .map(|(x, targets)| -> Result<Vec<Explained>> {
            let profile = match part_of_row[*x as usize] {
                u32::MAX => engine.index().profile_at(&snap, *x)?,
                i => participants[i as usize].profile.clone(),
            };
            let q = query_of(&snap, *x, profile);
            let ms = rank::explain_rows(engine.index(), &snap, &q, &params, targets)?;
            progress.advance(1);
            Ok(targets
                .iter()
                .zip(ms)
                .map(|(&y, m)| {
                    (
                        (*x, y),
                        Side {
                            score: m.score,
                            reasons: m.reasons,
                        },
                        m.name,
                        m.country,
                    )
                })
                .collect())
        })
        .collect::<Result<Vec<_>>>()?;
    let mut why: HashMap<(u32, u32), Side> = HashMap::new();
    let mut names: HashMap<u32, (String, String)> = HashMap::new();
    for ((x, y), side, name, country) in explained.into_iter().flatten() {
        why.insert((x, y), side);
        names.entry(y).or_insert((name, country));
    }
    let side = |x: u32, y: u32| {
        why.get(&(x, y)).cloned().unwrap_or(Side {
            score: 0.0,
            reasons: Vec::new(),
        })
    };
    let t_explain = t3.elapsed().as_secs_f64();

    // Assemble.
    let id = |i: usize| participants[i].profile.id.clone();
    let mut count = vec![0usize; n];
    let mut busy = vec![0u128; n];
    let mut placed_at: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    let locked_edges: HashSet<usize> = problem.locked.iter().map(|l| l.0).collect();
    let mut meetings = Vec::with_capacity(placed.len());
    for m in &placed {
        let e = problem.edges[m.edge];
        let (a, b) = order_ids(participants, e.a as usize, e.b as usize);
        count[a] += 1;
        count[b] += 1;
        busy[a] |= 1 << m.slot;
        busy[b] |= 1 << m.slot;
        placed_at.insert((a.min(b), a.max(b)), (m.slot + 1, m.table + 1));
        let slot = slots[m.slot];
        meetings.push(Meeting {
            slot: m.slot + 1,
            start: slot.start.to_string(),
            end: slot.end.to_string(),
            table: m.table + 1,
            a: id(a),
            b: id(b),
            score: e.w,
            requested: (e.priority > 0).then_some(e.priority),
            locked: locked_edges.contains(&m.edge),
            why_a: side(row_of[a], row_of[b]),
            why_b: side(row_of[b], row_of[a]),
        });
    }
    let reason_for = |a: usize, b: usize, m: f32, priority: u32| -> (UnscheduledReason, String) {
        let (x, y) = (a.min(b), a.max(b));
        if let Some(note) = apart.get(&(x, y)) {
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            };
            return (
                UnscheduledReason::KeptApart,
                format!("asked to be kept apart{note}"),
            );
        }
        if priority == 0 && m < shape.min_score {
            return (
                UnscheduledReason::BelowThreshold,
                format!(
                    "mutual score {m:.3} is below the threshold {:.3}",
                    shape.min_score
                ),
            );
        }
        if avail[a] & avail[b] == 0 {
            return (
                UnscheduledReason::NoCommonSlot,
                "never available at the same time".into(),
            );
        }
        for v in [a, b] {
            if count[v] >= caps[v] {
                return (
                    UnscheduledReason::CapReached,
                    format!("{} already has {} meetings (its cap)", id(v), count[v]),
                );
            }
        }
        let common = avail[a] & avail[b];
        if common & !busy[a] & !busy[b] == 0 {
            return (
                UnscheduledReason::NoCommonFreeSlot,
                format!(
                    "every slot both are free ({}) is taken by another meeting of one of them",
                    slot_list(common)
                ),
            );
        }
        (
            UnscheduledReason::OutscoredByBetterPairs,
            "the tables in their common free slots are taken by better-scoring meetings".into(),
        )
    };
    let mut recommendations = Vec::new();
    let mut unscheduled: BTreeMap<(String, String), Unscheduled> = BTreeMap::new();
    for (i, list) in recs_of.iter().enumerate() {
        for (rank, &(r, m)) in list.iter().enumerate() {
            let j = part_of_row[r as usize];
            let at_event = j != u32::MAX;
            let (name, country) = names.get(&r).cloned().unwrap_or_default();
            let priority = if at_event {
                request_priority(&requested, i, j as usize)
            } else {
                0
            };
            let scheduled = if at_event {
                placed_at
                    .get(&(i.min(j as usize), i.max(j as usize)))
                    .copied()
            } else {
                None
            };
            let why_not = if scheduled.is_some() {
                None
            } else if !at_event {
                Some(Unscheduled {
                    a: id(i),
                    b: snap.id_of(r).to_string(),
                    score: m,
                    requested: None,
                    reason: UnscheduledReason::NotAtEvent,
                    detail: "not among the participants".into(),
                })
            } else {
                let (reason, detail) = reason_for(i, j as usize, m, priority);
                let (a, b) = order_ids(participants, i, j as usize);
                let u = Unscheduled {
                    a: id(a),
                    b: id(b),
                    score: m,
                    requested: (priority > 0).then_some(priority),
                    reason,
                    detail,
                };
                unscheduled.insert((id(a), id(b)), u.clone());
                Some(u)
            };
            recommendations.push(Recommendation {
                participant: id(i),
                rank: rank + 1,
                partner: snap.id_of(r).to_string(),
                partner_name: name,
                partner_country: country,
                at_event,
                score: m,
                why_participant: side(row_of[i], r),
                why_partner: side(r, row_of[i]),
                requested: (priority > 0).then_some(priority),
                scheduled,
                unscheduled: why_not,
            });
        }
    }
    for (&i, list) in &requested {
        for &(j, priority) in list {
            if i < j && !placed_at.contains_key(&(i, j)) {
                let (key, _) = ordered(row_of[i], row_of[j]);
                let m = mutual_of.get(&key).copied().unwrap_or(0.0);
                let (reason, detail) = reason_for(i, j, m, priority);
                let (a, b) = order_ids(participants, i, j);
                unscheduled.insert(
                    (id(a), id(b)),
                    Unscheduled {
                        a: id(a),
                        b: id(b),
                        score: m,
                        requested: Some(priority),
                        reason,
                        detail,
                    },
                );
            }
        }
    }
    let mut unscheduled: Vec<Unscheduled> = unscheduled.into_values().collect();
    unscheduled.sort_by(|x, y| {
        y.requested
            .cmp(&x.requested)
            .then(y.score.total_cmp(&x.score))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });

    let mut summaries = Vec::with_capacity(n);
    let mut idle_total = 0;
    for (i, p) in participants.iter().enumerate() {
        let gaps = idle_gaps(busy[i], avail[i]);
        idle_total += gaps;
        summaries.push(ParticipantSummary {
            id: p.profile.id.clone(),
            name: p.profile.name.clone(),
            country: p.profile.country.clone(),
            kind: p.profile.kind.to_string(),
            sectors: p.profile.sectors.clone(),
            availability: (0..slots.len())
                .filter(|s| avail[i] >> s & 1 == 1)
                .map(|s| s + 1)
                .collect(),
            max_meetings: caps[i],
            meetings: count[i],
            idle_gaps: gaps,
        });
    }
    summaries.sort_by(|a, b| a.id.cmp(&b.id));
    recommendations.sort_by(|a, b| (&a.participant, a.rank).cmp(&(&b.participant, b.rank)));
    let mut by_country: HashMap<String, usize> = HashMap::new();
    let mut by_sector: HashMap<String, usize> = HashMap::new();
    for (i, p) in participants.iter().enumerate() {
        *by_country.entry(p.profile.country.clone()).or_default() += 1;
        let set = snap
            .rows
            .get(row_of[i] as usize)
            .map(|r| r.sectors)
            .unwrap_or_default();
        for code in taxonomy().codes(set) {
            *by_sector.entry(code).or_default() += 1;
        }
    }
    let most = |m: HashMap<String, usize>| {
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let requested_total: usize = requested.values().map(|l| l.len()).sum::<usize>() / 2;
    let requested_scheduled = placed
        .iter()
        .filter(|m| problem.edges[m.edge].priority > 0)
        .count();
    let effective = schedule::effective_caps(&problem);
    let demand: usize = effective.iter().sum();
    let stats = Stats {
        participants: n,
        slots: slots.len(),
        tables,
        meetings: meetings.len(),
        locked: problem.locked.len(),
        requested_scheduled,
        requested: requested_total,
        fill_rate: meetings.len() as f64 / (slots.len() * tables) as f64,
        demand_fill: if demand == 0 {
            0.0
        } else {
            (2 * meetings.len()) as f64 / demand as f64
        },
        total_score: total,
        upper_bound: bound,
        ratio: if bound > 0.0 { total / bound } else { 1.0 },
        without_meetings: count.iter().filter(|&&c| c == 0).count(),
        idle_gaps: idle_total,
        by_country: most(by_country),
        by_sector: most(by_sector),
        pairs_scored,
        seconds: Timing {
            index: t_index,
            rank: t_rank,
            schedule: t_schedule,
            explain: t_explain,
        },
    };
    Ok(Agenda {
        name: shape.name.clone(),
        date: shape.date.clone(),
        slots,
        participants: summaries,
        meetings,
        recommendations,
        unscheduled,
        stats,
    })
}

/// Largest participants × pool for which full score rows are kept in memory (4 bytes each).
const KEEP_ROWS_MAX: u64 = 40_000_000;

/// Pass 1 for one participant: its candidates, the cut-off score, its full row (small events).
type Ranked = (Vec<(u32, f32)>, f32, Vec<f32>);
/// One explained direction of a pair: (query row, candidate row), the side, name, country.
type Explained = ((u32, u32), Side, String, String);
/// Pairs to keep apart, with their note.
type Apart = HashMap<(usize, usize), String>;

type Requested = BTreeMap<usize, Vec<(usize, u32)>>;

/// Checks requests against the participants; returns meet requests (both directions, with
/// priority) and pairs to keep apart (with their note).
fn check_requests(requests: &[Request], pos: &HashMap<&str, usize>) -> Result<(Requested, Apart)> {
    let mut meet: Requested = BTreeMap::new();
    let mut apart: HashMap<(usize, usize), String> = HashMap::new();
    let mut kinds: HashMap<(usize, usize), RequestKind> = HashMap::new();
    for r in requests {
        let find = |id: &str| {
            pos.get(id).copied().ok_or_else(|| {
                let hint = crate::error::nearest(id, pos.keys().copied())
                    .map(|s| format!("; did you mean \"{s}\"?"))
                    .unwrap_or_default();
                Error::Usage(format!(
                    "request {} / {}: unknown participant \"{id}\"{hint}",
                    r.a, r.b
                ))
            })
        };
        let (a, b) = (find(&r.a)?, find(&r.b)?);
        if a == b {
            return Err(Error::Usage(format!(
                "request: \"{}\" cannot meet itself",
                r.a
            )));
        }
        let key = (a.min(b), a.max(b));
        if let Some(k) = kinds.insert(key, r.kind) {
            if k != r.kind {
                return Err(Error::Usage(format!(
                    "request: pair {} / {} is both requested and kept apart",
                    r.a, r.b
                )));
            }
        }
        match r.kind {
            RequestKind::Apart => {
                apart.insert(key, r.note.clone());
            }
            RequestKind::Meet => {
                let p = r.priority.max(1);
                for (x, y) in [(a, b), (b, a)] {
                    let list = meet.entry(x).or_default();
                    match list.iter_mut().find(|e| e.0 == y) {
                        Some(e) => e.1 = e.1.max(p),
                        None => list.push((y, p)),
                    }
                }
            }
        }
    }
    Ok((meet, apart))
}

fn request_priority(requested: &Requested, a: usize, b: usize) -> u32 {
    requested
        .get(&a)
        .and_then(|l| l.iter().find(|e| e.0 == b))
        .map_or(0, |e| e.1)
}

fn query_of(snap: &Snapshot, row: u32, profile: Profile) -> ResolvedQuery {
    let r = snap.rows.get(row as usize).copied().unwrap_or_default();
    ResolvedQuery {
        profile,
        sectors: r.sectors,
        sectors_inferred: r.inferred,
    }
}

fn ordered(x: u32, y: u32) -> ((u32, u32), usize) {
    if x < y {
        ((x, y), 0)
    } else {
        ((y, x), 1)
    }
}

fn order_ids(participants: &[Participant], a: usize, b: usize) -> (usize, usize) {
    if participants[a].profile.id <= participants[b].profile.id {
        (a, b)
    } else {
        (b, a)
    }
}

/// Keeps the best `k` of a list (sorted, best first) and returns the k-th score when more
/// were dropped (0 when none were).
fn top_k<F>(list: &mut Vec<(u32, f32)>, k: usize, by: F) -> f32
where
    F: Fn(&(u32, f32), &(u32, f32)) -> std::cmp::Ordering,
{
    let cut = if list.len() > k && k > 0 {
        list.select_nth_unstable_by(k - 1, &by);
        let c = list[k - 1].1;
        list.truncate(k);
        c
    } else if k == 0 {
        let c = list.iter().map(|x| x.1).fold(0.0, f32::max);
        list.clear();
        c
    } else {
        0.0
    };
    list.sort_by(&by);
    cut
}

/// Free, available slots between a participant's first and last meeting.
pub fn idle_gaps(busy: u128, avail: u128) -> usize {
    if busy == 0 {
        return 0;
    }
    let first = busy.trailing_zeros();
    let last = 127 - busy.leading_zeros();
    (first..=last)
        .filter(|&s| busy >> s & 1 == 0 && avail >> s & 1 == 1)
        .count()
}

fn slot_list(bits: u128) -> String {
    let v: Vec<String> = (0..128)
        .filter(|s| bits >> s & 1 == 1)
        .map(|s| (s + 1).to_string())
        .collect();
    if v.len() > 8 {
        format!(
            "slots {} … {}",
            v[..4].join(", "),
            v[v.len() - 2..].join(", ")
        )
    } else {
        format!("slots {}", v.join(", "))
    }
}
