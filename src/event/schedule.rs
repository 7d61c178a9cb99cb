//! The meeting scheduler and its upper bound, over plain indices (no ids, no I/O).
//!
//! **Problem.** Participants `0..n` with availability (a bit set of slots) and a meeting cap;
//! `slots` slots with `tables` tables each; candidate pairs ([`Edge`]) with a mutual score and
//! a request priority (0 = not requested). Pick meetings and give each a slot and a table so
//! that a participant has at most one meeting per slot, only in slots where both are
//! available, within caps, at most `tables` meetings per slot, and locked meetings stay put.
//! Maximise the total score, requested pairs first.
//!
//! **Scheduler** ([`solve`]):
//! 1. locked meetings are placed first;
//! 2. greedy: pairs in order (priority, score, ids) go to the earliest common free slot next
//!    to the pair's other meetings; when every common slot is taken, a *repair* moves the
//!    blocking meeting(s) to another slot where their pair is free;
//! 3. exchanges: an unscheduled pair displaces the cheapest meetings that block it (a slot or a
//!    cap) when it is worth more than them (or has a higher request priority); the displaced
//!    participants are refilled with their next best pairs; repeated while the total grows;
//! 4. nobody left out: a participant without a meeting gets its best feasible pair, displacing a
//!    meeting whose other side keeps at least one;
//! 5. a last greedy pass, so no pair can be added without removing another;
//! 6. tables: locked meetings keep theirs, others prefer the table one side sat at before.
//!
//! **Bound** ([`upper_bound`]): the linear relaxation of the b-matching problem (caps capped by
//! availability, a pair only if the two share a slot, total meetings capped by Σ_slot
//! min(tables, ⌊available/2⌋)), bounded from above by its Lagrangian dual `Σ cap_v·y_v + λ·M +
//! Σ_e max(0, w_e − y_a − y_b − λ)`, minimised by projected subgradient steps. Pairs that were
//! never scored (outside every participant's candidate list) are covered: their score is at
//! most the harmonic mean of the two lists' cut-off scores, and the projection keeps
//! `y_v ≥ (cutoff_v − λ)/2`, which makes their dual constraint hold.

use serde::{Deserialize, Serialize};

/// A candidate pair `a < b` with its mutual score and request priority (0 = not requested).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// One participant.
    pub a: u32,
    /// The other.
    pub b: u32,
    /// Mutual score.
    pub w: f32,
    /// Request priority, 0 when not requested.
    pub priority: u32,
}

/// A scheduling problem.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Problem {
    /// Number of participants.
    pub n: usize,
    /// Number of slots (at most 128).
    pub slots: usize,
    /// Tables per slot.
    pub tables: usize,
    /// Slots each participant is free (bit `s` = slot `s`, 0-based).
    pub avail: Vec<u128>,
    /// Meeting cap of each participant.
    pub caps: Vec<usize>,
    /// Eligible pairs (kept-apart and below-threshold pairs are left out by the caller).
    pub edges: Vec<Edge>,
    /// Locked meetings: (edge, 0-based slot, 0-based table).
    pub locked: Vec<(usize, usize, usize)>,
    /// Per participant: every pair outside the edge list scores at most the harmonic mean of
    /// the two participants' cut-offs (0 = every pair of the participant is listed).
    pub cutoff: Vec<f32>,
    /// Pairs below this mutual score are never eligible (used with `cutoff` in the bound).
    pub min_score: f32,
}

/// A meeting in a solution: edge, 0-based slot, 0-based table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// Edge index.
    pub edge: usize,
    /// 0-based slot.
    pub slot: usize,
    /// 0-based table.
    pub table: usize,
}

/// Why a pair has no meeting.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnscheduledReason {
    /// The two asked to be kept apart.
    KeptApart,
    /// Mutual score below the event's threshold.
    BelowThreshold,
    /// The two are never available at the same time.
    NoCommonSlot,
    /// Every slot both are available is taken by another meeting of one of them or full.
    NoCommonFreeSlot,
    /// One side already has its maximum number of meetings.
    CapReached,
    /// The partner does not take part in the event (ranking against the index).
    NotAtEvent,
    /// Feasible, but the agenda uses the slots and caps for pairs worth more.
    OutscoredByBetterPairs,
}

impl UnscheduledReason {
    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            UnscheduledReason::KeptApart => "kept apart",
            UnscheduledReason::BelowThreshold => "below threshold",
            UnscheduledReason::NoCommonSlot => "no common available slot",
            UnscheduledReason::NoCommonFreeSlot => "no common free slot",
            UnscheduledReason::CapReached => "cap reached",
            UnscheduledReason::NotAtEvent => "not at the event",
            UnscheduledReason::OutscoredByBetterPairs => "outscored by better pairs",
        }
    }
}

const NONE: u32 = u32::MAX;

struct State<'p> {
    p: &'p Problem,
    busy: Vec<u128>,
    count: Vec<usize>,
    load: Vec<usize>,
    open: u128,
    occ: Vec<u32>,
    slot_of: Vec<Option<usize>>,
    is_locked: Vec<bool>,
    adj: Vec<Vec<u32>>,
}

impl<'p> State<'p> {
    fn new(p: &'p Problem) -> Self {
        let mut adj: Vec<Vec<u32>> = vec![Vec::new(); p.n];
        for (i, e) in p.edges.iter().enumerate() {
            adj[e.a as usize].push(i as u32);
            adj[e.b as usize].push(i as u32);
        }
        for list in &mut adj {
            list.sort_by(|&x, &y| order(&p.edges, x as usize, y as usize));
        }
        let all = if p.slots >= 128 {
            u128::MAX
        } else {
            (1u128 << p.slots) - 1
        };
        State {
            p,
            busy: vec![0; p.n],
            count: vec![0; p.n],
            load: vec![0; p.slots],
            open: if p.tables == 0 { 0 } else { all },
            occ: vec![NONE; p.n * p.slots],
            slot_of: vec![None; p.edges.len()],
            is_locked: vec![false; p.edges.len()],
            adj,
        }
    }

    fn ends(&self, e: usize) -> (usize, usize) {
        let e = &self.p.edges[e];
        (e.a as usize, e.b as usize)
    }

    fn place(&mut self, e: usize, s: usize) {
        let (a, b) = self.ends(e);
        for v in [a, b] {
            self.busy[v] |= 1 << s;
            self.count[v] += 1;
            self.occ[v * self.p.slots + s] = e as u32;
        }
        self.load[s] += 1;
        if self.load[s] >= self.p.tables {
            self.open &= !(1 << s);
        }
        self.slot_of[e] = Some(s);
    }

    fn remove(&mut self, e: usize) {
        let Some(s) = self.slot_of[e] else { return };
        let (a, b) = self.ends(e);
        for v in [a, b] {
            self.busy[v] &= !(1 << s);
            self.count[v] -= 1;
            self.occ[v * self.p.slots + s] = NONE;
        }
        self.load[s] -= 1;
        self.open |= 1 << s;
        self.slot_of[e] = None;
    }

    fn under_cap(&self, v: usize) -> bool {
        self.count[v] < self.p.caps[v]
    }

    /// Free slots for a pair right now.
    fn free(&self, a: usize, b: usize) -> u128 {
        self.p.avail[a] & self.p.avail[b] & !self.busy[a] & !self.busy[b] & self.open
    }

    fn pick(&self, free: u128, a: usize, b: usize) -> usize {
        let mine = self.busy[a] | self.busy[b];
        let near = free & ((mine << 1) | (mine >> 1));
        let pool = if near != 0 { near } else { free };
        pool.trailing_zeros() as usize
    }

    /// Places an edge if both are under cap and share a free slot, moving at most the one or two
    /// meetings that block a common slot when needed.
    fn try_place(&mut self, e: usize) -> bool {
        let (a, b) = self.ends(e);
        if self.slot_of[e].is_some() || !self.under_cap(a) || !self.under_cap(b) {
            return false;
        }
        let free = self.free(a, b);
        if free != 0 {
            let s = self.pick(free, a, b);
            self.place(e, s);
            return true;
        }
        self.repair(e, a, b)
    }

    fn repair(&mut self, e: usize, a: usize, b: usize) -> bool {
        let mut common = self.p.avail[a] & self.p.avail[b] & self.open;
        while common != 0 {
            let s = common.trailing_zeros() as usize;
            common &= common - 1;
            let blockers: Vec<usize> = [a, b]
                .iter()
                .map(|&v| self.occ[v * self.p.slots + s])
                .filter(|&x| x != NONE)
                .map(|x| x as usize)
                .fold(Vec::new(), |mut acc, x| {
                    if !acc.contains(&x) {
                        acc.push(x);
                    }
                    acc
                });
            if blockers.iter().any(|&x| self.is_locked[x]) {
                continue;
            }
            let mut moved: Vec<(usize, usize)> = Vec::new();
            let mut ok = true;
            for &x in &blockers {
                let (xa, xb) = self.ends(x);
                self.remove(x);
                // the vacated slot s stays reserved for e
                let to = self.free(xa, xb) & !(1 << s);
                if to == 0 {
                    self.place(x, s);
                    ok = false;
                    break;
                }
                let t = self.pick(to, xa, xb);
                self.place(x, t);
                moved.push((x, s));
            }
            if ok && self.free(a, b) & (1 << s) != 0 {
                self.place(e, s);
                return true;
            }
            for (x, from) in moved.into_iter().rev() {
                self.remove(x);
                self.place(x, from);
            }
        }
        false
    }

    fn weight(&self, e: usize) -> f64 {
        self.p.edges[e].w as f64
    }

    /// The cheapest meeting of `v` that may be dropped, other than those in `keep`.
    fn cheapest(
        &self,
        v: usize,
        keep: &[usize],
        guard: &dyn Fn(&Self, usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut bits = self.busy[v];
        while bits != 0 {
            let s = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let x = self.occ[v * self.p.slots + s] as usize;
            if self.is_locked[x] || keep.contains(&x) || !guard(self, x) {
                continue;
            }
            if best.is_none_or(|b| order(&self.p.edges, x, b) == std::cmp::Ordering::Greater) {
                best = Some(x);
            }
        }
        best
    }

    /// Tries to place `e` by dropping meetings; `force` accepts any loss (used so nobody is
    /// left without a meeting), otherwise the drops must be worth less than `e`.
    fn exchange(&mut self, e: usize, force: bool) -> bool {
        let (a, b) = self.ends(e);
        let ed = self.p.edges[e];
        if self.slot_of[e].is_some() || self.p.caps[a] == 0 || self.p.caps[b] == 0 {
            return false;
        }
        let droppable = |st: &Self, x: usize| -> bool {
            let xe = st.p.edges[x];
            if force {
                // the displaced partner must keep a meeting
                let (xa, xb) = st.ends(x);
                let other = if xa == a || xa == b { xb } else { xa };
                xe.priority == 0 && (other == a || other == b || st.count[other] >= 2)
            } else {
                xe.priority < ed.priority || (xe.priority == ed.priority && xe.priority == 0)
            }
        };
        let mut best: Option<(f64, usize, Vec<usize>)> = None;
        let mut common = self.p.avail[a] & self.p.avail[b];
        while common != 0 {
            let s = common.trailing_zeros() as usize;
            common &= common - 1;
            let mut drops: Vec<usize> = Vec::new();
            let mut ok = true;
            for v in [a, b] {
                let x = self.occ[v * self.p.slots + s];
                if x != NONE && !drops.contains(&(x as usize)) {
                    let x = x as usize;
                    if self.is_locked[x] || !droppable(self, x) {
                        ok = false;
                    }
                    drops.push(x);
                }
            }
            if !ok {
                continue;
            }
            if self.load[s] - drops.len() >= self.p.tables {
                continue; // the slot is full and nothing of a or b frees a table there
            }
            for v in [a, b] {
                let freed = drops
                    .iter()
                    .filter(|&&x| {
                        let (xa, xb) = self.ends(x);
                        xa == v || xb == v
                    })
                    .count();
                if self.count[v] - freed >= self.p.caps[v] {
                    match self.cheapest(v, &drops, &droppable) {
                        Some(x) => drops.push(x),
                        None => ok = false,
                    }
                }
            }
            if !ok {
                continue;
            }
            let cost: f64 = drops.iter().map(|&x| self.weight(x)).sum();
            if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
                best = Some((cost, s, drops));
            }
        }
        let Some((cost, s, drops)) = best else {
            return false;
        };
        let worth = force
            || ed.priority > 0
                && drops
                    .iter()
                    .all(|&x| self.p.edges[x].priority < ed.priority)
            || cost + 1e-6 < self.weight(e);
        if !worth {
            return false;
        }
        let mut touched = Vec::new();
        for &x in &drops {
            let (xa, xb) = self.ends(x);
            touched.extend([xa, xb]);
            self.remove(x);
        }
        if self.free(a, b) & (1 << s) == 0 {
            // cannot happen: s was freed for both; restore to stay safe
            for &x in &drops {
                self.try_place(x);
            }
            return false;
        }
        self.place(e, s);
        touched.retain(|&v| v != a && v != b);
        touched.sort_unstable();
        touched.dedup();
        for v in touched {
            self.refill(v);
        }
        true
    }

    fn refill(&mut self, v: usize) {
        let list = self.adj[v].clone();
        for e in list {
            if !self.under_cap(v) {
                break;
            }
            self.try_place(e as usize);
        }
    }

    fn total(&self) -> f64 {
        (0..self.p.edges.len())
            .filter(|&e| self.slot_of[e].is_some())
            .map(|e| self.weight(e))
            .sum()
    }
}

/// The greedy order: request priority, then score, then ids (all descending "better first").
fn order(edges: &[Edge], x: usize, y: usize) -> std::cmp::Ordering {
    let (ex, ey) = (&edges[x], &edges[y]);
    ey.priority
        .cmp(&ex.priority)
        .then(ey.w.total_cmp(&ex.w))
        .then(ex.a.cmp(&ey.a))
        .then(ex.b.cmp(&ey.b))
}

/// Schedules meetings (see the module docs). Locked meetings are placed as given, even when
/// they break a rule; the caller checks them first.
pub fn solve(p: &Problem) -> Vec<Placed> {
    let mut st = State::new(p);
    for &(e, s, _) in &p.locked {
        if e < p.edges.len() && s < p.slots && st.slot_of[e].is_none() {
            st.is_locked[e] = true;
            st.place(e, s);
        }
    }
    let mut ids: Vec<usize> = (0..p.edges.len()).collect();
    ids.sort_by(|&x, &y| order(&p.edges, x, y));
    for &e in &ids {
        st.try_place(e);
    }
    for _round in 0..4 {
        let before = st.total();
        for &e in &ids {
            if st.slot_of[e].is_none() {
                st.exchange(e, false);
            }
        }
        if st.total() <= before + 1e-9 {
            break;
        }
    }
    for v in 0..p.n {
        if st.count[v] == 0 && p.caps[v] > 0 {
            let list = st.adj[v].clone();
            for e in list {
                let e = e as usize;
                if st.try_place(e) || st.exchange(e, true) {
                    break;
                }
            }
        }
    }
    for &e in &ids {
        st.try_place(e);
    }
    assign_tables(p, &st)
}

fn assign_tables(p: &Problem, st: &State) -> Vec<Placed> {
    let mut by_slot: Vec<Vec<usize>> = vec![Vec::new(); p.slots];
    for (e, s) in st.slot_of.iter().enumerate() {
        if let Some(s) = s {
            by_slot[*s].push(e);
        }
    }
    let locked_table: std::collections::HashMap<usize, usize> =
        p.locked.iter().map(|&(e, _, t)| (e, t)).collect();
    let mut home: Vec<Option<usize>> = vec![None; p.n];
    let mut out = Vec::new();
    for (s, list) in by_slot.iter_mut().enumerate() {
        list.sort_by(|&x, &y| order(&p.edges, x, y));
        let mut used = vec![false; p.tables.max(list.len())];
        let mut table_of: Vec<(usize, usize)> = Vec::new();
        for &e in list.iter() {
            if let Some(&t) = locked_table.get(&e) {
                if t < used.len() {
                    used[t] = true;
                }
                table_of.push((e, t));
            }
        }
        for &e in list.iter() {
            if locked_table.contains_key(&e) {
                continue;
            }
            let (a, b) = (p.edges[e].a as usize, p.edges[e].b as usize);
            let pref = [home[a], home[b]]
                .into_iter()
                .flatten()
                .find(|&t| t < used.len() && !used[t]);
            let t = pref
                .or_else(|| used.iter().position(|u| !u))
                .unwrap_or(used.len());
            if t >= used.len() {
                used.resize(t + 1, false);
            }
            used[t] = true;
            table_of.push((e, t));
        }
        for (e, t) in table_of {
            let (a, b) = (p.edges[e].a as usize, p.edges[e].b as usize);
            home[a] = Some(t);
            home[b] = Some(t);
            out.push(Placed {
                edge: e,
                slot: s,
                table: t,
            });
        }
    }
    out.sort_by_key(|m| (m.slot, m.table));
    out
}

/// Effective caps: the cap, but no more than the slots a participant is free.
pub fn effective_caps(p: &Problem) -> Vec<usize> {
    (0..p.n)
        .map(|v| p.caps[v].min(p.avail[v].count_ones() as usize))
        .collect()
}

/// An upper bound on the total score of any feasible agenda (see the module docs).
pub fn upper_bound(p: &Problem, lower: f64) -> f64 {
    upper_bound_given(p, lower, &[])
}

/// An upper bound on the total score of any feasible agenda that contains the `fixed` meetings
/// (the requested and kept meetings, which the rules place first): their scores count as they
/// are, and they use up their slots, tables and caps.
pub fn upper_bound_given(p: &Problem, lower: f64, fixed: &[Placed]) -> f64 {
    let mut q = p.clone();
    let mut constant = 0.0;
    let mut load = vec![0usize; p.slots];
    let mut gone = std::collections::HashSet::new();
    for m in fixed {
        let e = p.edges[m.edge];
        constant += e.w as f64;
        gone.insert(m.edge);
        load[m.slot] += 1;
        for v in [e.a as usize, e.b as usize] {
            q.caps[v] = q.caps[v].saturating_sub(1);
            q.avail[v] &= !(1u128 << m.slot);
        }
    }
    q.edges = p
        .edges
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, e)| *e)
        .collect();
    constant + relaxed_bound(&q, (lower - constant).max(0.0), &load)
}

#[allow(clippy::needless_range_loop)] // parallel arrays indexed by participant
fn relaxed_bound(p: &Problem, lower: f64, used: &[usize]) -> f64 {
    let caps = effective_caps(p);
    let edges: Vec<&Edge> = p
        .edges
        .iter()
        .filter(|e| {
            let (a, b) = (e.a as usize, e.b as usize);
            p.avail[a] & p.avail[b] != 0 && caps[a] > 0 && caps[b] > 0 && e.w > 0.0
        })
        .collect();
    let mut per_slot = 0usize;
    for s in 0..p.slots {
        let free = (0..p.n)
            .filter(|&v| caps[v] > 0 && p.avail[v] >> s & 1 == 1)
            .count();
        per_slot += p.tables.saturating_sub(used[s]).min(free / 2);
    }
    let m_cap = per_slot as f64;
    // the phantom pairs: cut-offs that can reach the threshold
    let cut: Vec<f64> = (0..p.n)
        .map(|v| {
            let c = p.cutoff.get(v).copied().unwrap_or(0.0);
            if caps[v] > 0 && 2.0 * c >= p.min_score && c > 0.0 {
                c as f64
            } else {
                0.0
            }
        })
        .collect();
    let project = |y: &mut [f64], lambda: f64| {
        for v in 0..y.len() {
            let lo = if cut[v] > 0.0 {
                ((cut[v] - lambda) / 2.0).max(0.0)
            } else {
                0.0
            };
            if y[v] < lo {
                y[v] = lo;
            }
            if y[v] < 0.0 {
                y[v] = 0.0;
            }
        }
    };
    let dual = |y: &[f64], lambda: f64, g: &mut [f64], gl: &mut f64| -> f64 {
        let mut d = lambda * m_cap;
        for v in 0..p.n {
            d += caps[v] as f64 * y[v];
            g[v] = caps[v] as f64;
        }
        *gl = m_cap;
        for e in &edges {
            let (a, b) = (e.a as usize, e.b as usize);
            let slack = e.w as f64 - y[a] - y[b] - lambda;
            if slack > 0.0 {
                d += slack;
                g[a] -= 1.0;
                g[b] -= 1.0;
                *gl -= 1.0;
            }
        }
        d
    };
    // start: half the cap-th best score of each participant
    let mut y = vec![0f64; p.n];
    {
        let mut ws: Vec<Vec<f32>> = vec![Vec::new(); p.n];
        for e in &edges {
            ws[e.a as usize].push(e.w);
            ws[e.b as usize].push(e.w);
        }
        for v in 0..p.n {
            let list = &mut ws[v];
            if caps[v] > 0 && list.len() > caps[v] {
                list.sort_by(|x, y| y.total_cmp(x));
                y[v] = list[caps[v]] as f64 / 2.0;
            }
        }
    }
    let mut lambda = 0.0f64;
    project(&mut y, lambda);
    let mut g = vec![0f64; p.n];
    let mut gl = 0.0;
    let mut best = dual(&y, lambda, &mut g, &mut gl);
    let mut theta = 1.0;
    let mut stall = 0;
    for _ in 0..400 {
        let d = dual(&y, lambda, &mut g, &mut gl);
        if d < best - 1e-9 {
            best = d;
            stall = 0;
        } else {
            stall += 1;
            if stall >= 15 {
                theta /= 2.0;
                stall = 0;
                if theta < 1e-4 {
                    break;
                }
            }
        }
        let norm: f64 = g.iter().map(|x| x * x).sum::<f64>() + gl * gl;
        if norm <= 0.0 {
            break;
        }
        let gap = (d - lower).max(1e-6 * d.max(1.0));
        let step = theta * gap / norm;
        for v in 0..p.n {
            y[v] = (y[v] - step * g[v]).max(0.0);
        }
        lambda = (lambda - step * gl).max(0.0);
        project(&mut y, lambda);
    }
    let d = dual(&y, lambda, &mut g, &mut gl);
    best.min(d).max(lower)
}

/// Checks a solution against every rule; returns the first broken one. Used by tests and
/// debug builds.
pub fn check(p: &Problem, placed: &[Placed]) -> Result<(), String> {
    let mut busy = vec![0u128; p.n];
    let mut count = vec![0usize; p.n];
    let mut tables = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    for m in placed {
        let e = p.edges.get(m.edge).ok_or("unknown edge")?;
        if !seen.insert(m.edge) {
            return Err(format!("pair {} scheduled twice", m.edge));
        }
        if m.slot >= p.slots {
            return Err(format!("slot {} out of range", m.slot));
        }
        if m.table >= p.tables {
            return Err(format!(
                "table {} out of range (tables {})",
                m.table, p.tables
            ));
        }
        if !tables.insert((m.slot, m.table)) {
            return Err(format!("table {} used twice in slot {}", m.table, m.slot));
        }
        for v in [e.a as usize, e.b as usize] {
            if p.avail[v] >> m.slot & 1 == 0 {
                return Err(format!("participant {v} not available in slot {}", m.slot));
            }
            if busy[v] >> m.slot & 1 == 1 {
                return Err(format!(
                    "participant {v} has two meetings in slot {}",
                    m.slot
                ));
            }
            busy[v] |= 1 << m.slot;
            count[v] += 1;
            if count[v] > p.caps[v] {
                return Err(format!("participant {v} over its cap {}", p.caps[v]));
            }
        }
    }
    for &(e, s, t) in &p.locked {
        if !placed
            .iter()
            .any(|m| m.edge == e && m.slot == s && m.table == t)
        {
            return Err(format!("locked meeting {e} moved"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn problem(
        n: usize,
        slots: usize,
        tables: usize,
        cap: usize,
        edges: &[(u32, u32, f32)],
    ) -> Problem {
        Problem {
            n,
            slots,
            tables,
            avail: vec![(1u128 << slots) - 1; n],
            caps: vec![cap; n],
            edges: edges
                .iter()
                .map(|&(a, b, w)| Edge {
                    a,
                    b,
                    w,
                    priority: 0,
                })
                .collect(),
            locked: Vec::new(),
            cutoff: vec![0.0; n],
            min_score: 0.0,
        }
    }

    /// Best total by exhaustive search (tiny problems only).
    fn optimum(p: &Problem) -> f64 {
        fn go(
            p: &Problem,
            e: usize,
            busy: &mut [u128],
            count: &mut [usize],
            load: &mut [usize],
        ) -> f64 {
            if e == p.edges.len() {
                return 0.0;
            }
            let mut best = go(p, e + 1, busy, count, load);
            let (a, b) = (p.edges[e].a as usize, p.edges[e].b as usize);
            if count[a] < p.caps[a] && count[b] < p.caps[b] {
                for s in 0..p.slots {
                    let bit = 1u128 << s;
                    if p.avail[a] & p.avail[b] & bit != 0
                        && (busy[a] | busy[b]) & bit == 0
                        && load[s] < p.tables
                    {
                        busy[a] |= bit;
                        busy[b] |= bit;
                        count[a] += 1;
                        count[b] += 1;
                        load[s] += 1;
                        let v = p.edges[e].w as f64 + go(p, e + 1, busy, count, load);
                        busy[a] &= !bit;
                        busy[b] &= !bit;
                        count[a] -= 1;
                        count[b] -= 1;
                        load[s] -= 1;
                        best = best.max(v);
                    }
                }
            }
            best
        }
        go(
            p,
            0,
            &mut vec![0; p.n],
            &mut vec![0; p.n],
            &mut vec![0; p.slots],
        )
    }

    fn arb_problem(
        max_n: usize,
        max_slots: usize,
        max_edges: usize,
    ) -> impl Strategy<Value = Problem> {
        (2..=max_n, 1..=max_slots, 1..=4usize).prop_flat_map(move |(n, slots, tables)| {
            let full = (1u128 << slots) - 1;
            (
                proptest::collection::vec(1..=full, n),
                proptest::collection::vec(0..=3usize, n),
                proptest::collection::vec(
                    (0..n as u32, 0..n as u32, 0.01f32..1.0, 0..3u32),
                    0..=max_edges,
                ),
            )
                .prop_map(move |(avail, caps, raw)| {
                    let mut seen = std::collections::HashSet::new();
                    let edges = raw
                        .into_iter()
                        .filter(|(a, b, _, _)| a != b)
                        .map(|(a, b, w, pr)| Edge {
                            a: a.min(b),
                            b: a.max(b),
                            w,
                            priority: pr.saturating_sub(1),
                        })
                        .filter(|e| seen.insert((e.a, e.b)))
                        .collect();
                    Problem {
                        n,
                        slots,
                        tables,
                        avail,
                        caps,
                        edges,
                        locked: Vec::new(),
                        cutoff: vec![0.0; n],
                        min_score: 0.0,
                    }
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every rule holds, no pair could still be added, nobody is left out when a pair
        /// could be added for them by displacing a meeting whose other side keeps one, and
        /// the bound is at least the total.
        #[test]
        fn agendas_keep_every_rule(p in arb_problem(12, 6, 30)) {
            let placed = solve(&p);
            prop_assert_eq!(check(&p, &placed), Ok(()));
            let mut busy = vec![0u128; p.n];
            let mut count = vec![0usize; p.n];
            let mut load = vec![0usize; p.slots];
            let on: std::collections::HashSet<usize> = placed.iter().map(|m| m.edge).collect();
            for m in &placed {
                let e = p.edges[m.edge];
                for v in [e.a as usize, e.b as usize] {
                    busy[v] |= 1 << m.slot;
                    count[v] += 1;
                }
                load[m.slot] += 1;
            }
            let open: u128 = (0..p.slots).filter(|&s| load[s] < p.tables).fold(0, |m, s| m | 1 << s);
            for (i, e) in p.edges.iter().enumerate() {
                if on.contains(&i) {
                    continue;
                }
                let (a, b) = (e.a as usize, e.b as usize);
                let free = p.avail[a] & p.avail[b] & !busy[a] & !busy[b] & open;
                prop_assert!(
                    !(count[a] < p.caps[a] && count[b] < p.caps[b] && free != 0),
                    "pair {i} could still be added"
                );
            }
            for v in 0..p.n {
                if count[v] > 0 || p.caps[v] == 0 {
                    continue;
                }
                // v has nothing: no partner u may be free in a common open slot with room
                for e in p.edges.iter().filter(|e| e.a as usize == v || e.b as usize == v) {
                    let u = if e.a as usize == v { e.b as usize } else { e.a as usize };
                    let free = p.avail[v] & p.avail[u] & !busy[u] & open;
                    prop_assert!(!(free != 0 && count[u] < p.caps[u]), "{v} left out though {u} is free");
                }
            }
            let total: f64 = placed.iter().map(|m| p.edges[m.edge].w as f64).sum();
            prop_assert!(upper_bound(&p, total) + 1e-9 >= total);
        }

        /// On tiny problems the bound is at least the true optimum.
        #[test]
        fn the_bound_is_above_the_optimum(p in arb_problem(5, 3, 7)) {
            let best = optimum(&p);
            let placed = solve(&p);
            let total: f64 = placed.iter().map(|m| p.edges[m.edge].w as f64).sum();
            prop_assert!(total <= best + 1e-6);
            let ub = upper_bound(&p, total);
            prop_assert!(ub + 1e-6 >= best, "bound {ub} below optimum {best}");
        }
    }

    #[test]
    fn a_triangle_with_one_slot_takes_the_best_pair() {
        let p = problem(3, 1, 5, 3, &[(0, 1, 0.5), (1, 2, 0.9), (0, 2, 0.4)]);
        let s = solve(&p);
        check(&p, &s).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].edge, 1);
        let ub = upper_bound(&p, 0.9);
        assert!(ub >= 0.9 - 1e-9, "{ub}");
    }

    #[test]
    fn repair_moves_a_blocking_meeting() {
        // 0-1 is greedily placed in slot 0; 1-2 is only possible in slot 0 (2 is free then only)
        let mut p = problem(3, 2, 5, 2, &[(0, 1, 0.9), (1, 2, 0.8)]);
        p.avail[2] = 0b01;
        let s = solve(&p);
        check(&p, &s).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn exchanges_keep_the_greedy_total_and_the_bound_holds() {
        // cap 1: greedy takes 1-2 (0.6), but 0-1 (0.5) + 2-3 (0.5) is worth more.
        let p = problem(4, 1, 5, 1, &[(1, 2, 0.6), (0, 1, 0.5), (2, 3, 0.5)]);
        let s = solve(&p);
        check(&p, &s).unwrap();
        let total: f32 = s.iter().map(|m| p.edges[m.edge].w).sum();
        assert!(total >= 0.6 - 1e-6);
        assert!(upper_bound(&p, total as f64) <= 1.2 + 1e-6);
    }

    #[test]
    fn requested_pairs_come_first() {
        let mut p = problem(3, 1, 5, 1, &[(0, 1, 0.9), (1, 2, 0.2)]);
        p.edges[1].priority = 1;
        let s = solve(&p);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].edge, 1);
    }

    #[test]
    fn locked_meetings_stay() {
        let mut p = problem(4, 2, 1, 2, &[(0, 1, 0.1), (2, 3, 0.9)]);
        p.locked = vec![(0, 1, 0)];
        let s = solve(&p);
        check(&p, &s).unwrap();
        assert!(s.iter().any(|m| m.edge == 0 && m.slot == 1));
        assert_eq!(s.len(), 2);
    }
}
