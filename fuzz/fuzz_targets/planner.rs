//! The event planner itself: `event::plan` (ranking, mutual scores, scheduling, bound, reasons)
//! and its scheduler `event::schedule::solve`, on events derived from the fuzz bytes (at most
//! 12 participants, 40 requests, 4 kept meetings, 2 sessions of at most 16 slots; for the
//! scheduler alone up to 128 slots). The first byte picks which.
//!
//! Invariants checked on every agenda: no participant has two meetings in one slot, no table
//! holds two meetings at once, every meeting is in a slot both sides are free and within the
//! slots and tables, a pair meets at most once, caps hold (a cap below the kept meetings is
//! raised to them), pairs kept apart never meet, kept meetings stay where they were put, the
//! total score is within the upper bound, the figures add up — and planning the same input
//! twice gives the same agenda (timings aside).
#![no_main]
use std::collections::{HashMap, HashSet};

use clustermatch::event::schedule::{check, solve, upper_bound, Edge, Problem};
use clustermatch::event::{
    plan, Agenda, EventShape, LockedMeeting, Participant, PlanOptions, Request, RequestKind,
    SessionSpec, TimeRange, DEFAULT_MAX_MEETINGS,
};
use clustermatch::Profile;
use libfuzzer_sys::fuzz_target;

/// Reads small numbers from the fuzz bytes; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    /// A number in `0..n` (`n` ≥ 1).
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

const IDS: [&str; 14] = [
    "acme", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "xi",
];
const COUNTRIES: [&str; 6] = ["FR", "DE", "CN", "IT", "ES", "BR"];
const SECTORS: [&str; 5] = [
    "environmental_services",
    "environmental_industries",
    "agricultural_inputs_and_services",
    "biopharmaceuticals",
    "medical_devices",
];
const WORDS: [&str; 16] = [
    "water",
    "membranes",
    "wastewater",
    "treatment",
    "electric",
    "cars",
    "batteries",
    "sensors",
    "medical",
    "imaging",
    "diagnostics",
    "hydrogen",
    "fuel",
    "cells",
    "drones",
    "farming",
];

fn participant(b: &mut Bytes, i: usize, slots: usize) -> Participant {
    // Mostly distinct ids; sometimes a repeat (the planner must refuse it).
    let id = if b.byte() < 8 {
        IDS[b.below(IDS.len())]
    } else {
        IDS[i]
    };
    let words: Vec<&str> = (0..1 + b.below(5)).map(|_| WORDS[b.below(16)]).collect();
    let availability = match b.below(4) {
        0 => {
            // Any numbers, some outside the slots (refused).
            let k = b.below(5);
            Some((0..k).map(|_| b.below(slots + 2)).collect())
        }
        1 => {
            let bits = b.byte();
            Some(
                (1..=slots.min(8))
                    .filter(|s| bits >> (s - 1) & 1 == 1)
                    .collect(),
            )
        }
        _ => None,
    };
    Participant {
        profile: Profile {
            id: id.into(),
            name: id.to_uppercase(),
            country: COUNTRIES[b.below(COUNTRIES.len())].into(),
            description: words.join(" "),
            sectors: (0..b.below(3))
                .map(|_| SECTORS[b.below(5)].into())
                .collect(),
            target_countries: (0..b.below(3))
                .map(|_| COUNTRIES[b.below(COUNTRIES.len())].into())
                .collect(),
            ..Profile::default()
        },
        availability,
        max_meetings: b.flag().then(|| b.below(7)),
    }
}

fn shape(b: &mut Bytes) -> EventShape {
    let mut sessions = Vec::new();
    let mut start = 8 * 60 + 30 * b.below(4) as u32;
    for _ in 0..1 + b.below(2) {
        let len = [10, 15, 20, 30][b.below(4)];
        let count = 1 + b.below(8) as u32;
        let end = (start + len * count).min(24 * 60);
        sessions.push(format!(
            "{:02}:{:02}-{:02}:{:02}/{len}m",
            start / 60,
            start % 60,
            end / 60,
            end % 60
        ));
        // Sometimes overlapping the previous session (refused).
        start = if b.byte() < 16 { start } else { end + 30 };
    }
    let sessions = sessions
        .iter()
        .filter_map(|s| SessionSpec::parse(s).ok())
        .collect();
    let breaks = if b.flag() {
        let at = 8 * 60 + 15 * b.below(16) as u32;
        TimeRange::parse(&format!(
            "{:02}:{:02}-{:02}:{:02}",
            at / 60,
            at % 60,
            (at + 30) / 60,
            (at + 30) % 60
        ))
        .ok()
        .into_iter()
        .collect()
    } else {
        Vec::new()
    };
    EventShape {
        sessions,
        breaks,
        tables: b.flag().then(|| b.below(7)),
        min_score: f32::from(b.byte()) / 255.0,
        max_meetings: if b.flag() {
            b.below(9)
        } else {
            DEFAULT_MAX_MEETINGS
        },
        ..EventShape::default()
    }
}

/// The agenda without its timings, for comparing two runs.
fn stable(a: &Agenda) -> String {
    let mut a = a.clone();
    a.stats.seconds = Default::default();
    serde_json::to_string(&a).unwrap_or_default()
}

fn check_agenda(
    agenda: &Agenda,
    participants: &[Participant],
    requests: &[Request],
    shape: &EventShape,
    locked: &[LockedMeeting],
) {
    let slots = shape.slots();
    assert_eq!(agenda.slots, slots);
    let by_id: HashMap<&str, &Participant> = participants
        .iter()
        .map(|p| (p.profile.id.as_str(), p))
        .collect();
    let tables = agenda.stats.tables;
    assert_eq!(
        tables,
        shape.tables.unwrap_or((participants.len() / 2).max(1))
    );
    let apart: HashSet<(&str, &str)> = requests
        .iter()
        .filter(|r| r.kind == RequestKind::Apart)
        .map(|r| (r.a.as_str().min(&r.b), r.a.as_str().max(&r.b)))
        .collect();
    let mut busy = HashSet::new();
    let mut table_used = HashSet::new();
    let mut pairs = HashSet::new();
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut total = 0.0;
    for m in &agenda.meetings {
        assert!(m.a < m.b, "{m:?}");
        assert!(m.slot >= 1 && m.slot <= slots.len(), "{m:?}");
        assert!(
            m.table >= 1 && m.table <= tables,
            "{m:?} with {tables} tables"
        );
        let slot = &slots[m.slot - 1];
        assert_eq!(
            (m.start.as_str(), m.end.as_str()),
            (&*slot.start.to_string(), &*slot.end.to_string())
        );
        assert!(
            table_used.insert((m.slot, m.table)),
            "table used twice: {m:?}"
        );
        assert!(
            pairs.insert((m.a.as_str(), m.b.as_str())),
            "pair met twice: {m:?}"
        );
        assert!(
            !apart.contains(&(m.a.as_str(), m.b.as_str())),
            "apart pair met: {m:?}"
        );
        for id in [&m.a, &m.b] {
            let p = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("{id} is no participant"));
            if let Some(av) = &p.availability {
                assert!(av.contains(&m.slot), "{id} not free in slot {}", m.slot);
            }
            assert!(
                busy.insert((id.as_str(), m.slot)),
                "{id} twice in slot {}",
                m.slot
            );
            *count.entry(id.as_str()).or_default() += 1;
        }
        assert!(
            m.score.is_finite() && (0.0..=1.0).contains(&m.score),
            "{m:?}"
        );
        total += f64::from(m.score);
    }
    for p in participants {
        let id = p.profile.id.as_str();
        let kept = locked.iter().filter(|l| l.a == id || l.b == id).count();
        let cap = p.max_meetings.unwrap_or(shape.max_meetings).max(kept);
        let n = count.get(id).copied().unwrap_or(0);
        assert!(n <= cap, "{id}: {n} meetings, cap {cap}");
    }
    for l in locked {
        let (a, b) = (l.a.as_str().min(&l.b), l.a.as_str().max(&l.b));
        assert!(
            agenda.meetings.iter().any(|m| m.a == a
                && m.b == b
                && m.slot == l.slot
                && m.table == l.table
                && m.locked),
            "kept meeting {l:?} moved or dropped"
        );
    }
    let s = &agenda.stats;
    assert_eq!(s.meetings, agenda.meetings.len());
    assert_eq!(s.participants, participants.len());
    assert_eq!(s.slots, slots.len());
    assert!(
        (s.total_score - total).abs() < 1e-3,
        "{} vs {total}",
        s.total_score
    );
    assert!(
        s.total_score <= s.upper_bound + 1e-6,
        "total {} above the bound {}",
        s.total_score,
        s.upper_bound
    );
}

fn fuzz_plan(b: &mut Bytes) {
    let shape = shape(b);
    let nslots = shape.slots().len().max(1);
    let n = 1 + b.below(12);
    let participants: Vec<Participant> = (0..n).map(|i| participant(b, i, nslots)).collect();
    let id = |b: &mut Bytes| {
        // Mostly a participant; sometimes an id that is not one (refused).
        if b.byte() < 8 {
            IDS[IDS.len() - 1].to_string()
        } else {
            participants[b.below(n)].profile.id.clone()
        }
    };
    let requests: Vec<Request> = (0..b.below(41))
        .map(|_| Request {
            a: id(b),
            b: id(b),
            kind: if b.byte() < 200 {
                RequestKind::Meet
            } else {
                RequestKind::Apart
            },
            priority: b.below(4) as u32,
            note: String::new(),
        })
        .collect();
    let locked: Vec<LockedMeeting> = (0..b.below(5))
        .map(|_| LockedMeeting {
            slot: b.below(nslots + 2),
            table: b.below(5),
            a: id(b),
            b: id(b),
        })
        .collect();
    let opts = PlanOptions {
        candidates: 1 + b.below(12),
        recommendations: b.below(6),
        locked: locked.clone(),
        ..PlanOptions::default()
    };
    let first = plan(&participants, &requests, &shape, &opts);
    let second = plan(&participants, &requests, &shape, &opts);
    match (&first, &second) {
        (Ok(x), Ok(y)) => {
            assert_eq!(stable(x), stable(y), "two runs, two agendas");
            check_agenda(x, &participants, &requests, &shape, &locked);
        }
        (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
        _ => panic!("one run failed, the other did not: {first:?} / {second:?}"),
    }
}

fn fuzz_solve(b: &mut Bytes) {
    let n = 2 + b.below(11);
    let slots = if b.byte() < 16 {
        1 + b.below(128)
    } else {
        1 + b.below(16)
    };
    let all = if slots >= 128 {
        u128::MAX
    } else {
        (1u128 << slots) - 1
    };
    let tables = 1 + b.below(6);
    let avail: Vec<u128> = (0..n)
        .map(|_| {
            if b.flag() {
                all
            } else {
                let mut bits = 0u128;
                for _ in 0..4 {
                    bits |= u128::from(b.byte()) << b.below(121);
                }
                bits & all
            }
        })
        .collect();
    let caps: Vec<usize> = (0..n).map(|_| b.below(7)).collect();
    let mut seen = HashSet::new();
    let mut edges = Vec::new();
    for _ in 0..b.below(41) {
        let (x, y) = (b.below(n) as u32, b.below(n) as u32);
        if x == y || !seen.insert((x.min(y), x.max(y))) {
            continue;
        }
        edges.push(Edge {
            a: x.min(y),
            b: x.max(y),
            w: f32::from(b.byte()) / 255.0,
            priority: if b.byte() < 64 { b.below(4) as u32 } else { 0 },
        });
    }
    // Kept meetings: only a feasible set, as the planner checks them before solving.
    let mut locked = Vec::new();
    let mut busy = vec![0u128; n];
    let mut count = vec![0usize; n];
    let mut used = HashSet::new();
    for _ in 0..b.below(4) {
        if edges.is_empty() {
            break;
        }
        let (e, s, t) = (b.below(edges.len()), b.below(slots), b.below(tables));
        let (x, y) = (edges[e].a as usize, edges[e].b as usize);
        let free = |v: usize| avail[v] >> s & 1 == 1 && busy[v] >> s & 1 == 0 && count[v] < caps[v];
        if locked.iter().any(|&(le, _, _)| le == e) || !free(x) || !free(y) || !used.insert((s, t))
        {
            continue;
        }
        for v in [x, y] {
            busy[v] |= 1 << s;
            count[v] += 1;
        }
        locked.push((e, s, t));
    }
    let p = Problem {
        n,
        slots,
        tables,
        avail,
        caps,
        edges,
        locked,
        cutoff: vec![0.0; n],
        min_score: 0.0,
    };
    let placed = solve(&p);
    if let Err(e) = check(&p, &placed) {
        panic!("{e}: {p:?} -> {placed:?}");
    }
    assert_eq!(placed, solve(&p), "two runs, two schedules");
    let total: f64 = placed.iter().map(|m| f64::from(p.edges[m.edge].w)).sum();
    // The bound holds for every feasible agenda, so for this one (no `lower` to lean on).
    let bound = upper_bound(&p, 0.0);
    assert!(
        total <= bound * (1.0 + 1e-5) + 1e-5,
        "total {total} above the bound {bound}"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    if b.byte() & 1 == 0 {
        fuzz_plan(&mut b);
    } else {
        fuzz_solve(&mut b);
    }
});
