//! Property tests of `event::plan` over random events built from the fixtures: every agenda
//! keeps every rule (one meeting per participant per slot, tables per slot, availability,
//! caps, kept-apart pairs never, below-threshold pairs never unless requested, locked meetings
//! stay), every requested or recommended pair without a meeting has a reason, and the total
//! never exceeds the bound.

use std::collections::{HashMap, HashSet};

use clustermatch::event::{
    plan, EventShape, LockedMeeting, Participant, PlanOptions, Request, RequestKind,
};
use clustermatch::{input, Profile};
use proptest::prelude::*;

fn fixtures() -> Vec<Profile> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profiles.jsonl");
    input::read_profiles(&path).expect("fixtures")
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    offset: usize,
    slots: usize,
    tables: usize,
    min_score: f32,
    cap: usize,
    avail: Vec<Option<(usize, usize)>>,
    caps: Vec<Option<usize>>,
    requests: Vec<(usize, usize, bool, u32)>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        4..24usize,
        0..100usize,
        1..8usize,
        1..6usize,
        0.0f32..0.5,
        0..5usize,
    )
        .prop_flat_map(|(n, offset, slots, tables, min_score, cap)| {
            (
                proptest::collection::vec(proptest::option::weighted(0.4, (0..slots, 0..slots)), n),
                proptest::collection::vec(proptest::option::weighted(0.3, 0..4usize), n),
                proptest::collection::vec((0..n, 0..n, any::<bool>(), 1..4u32), 0..8),
            )
                .prop_map(move |(avail, caps, requests)| Case {
                    n,
                    offset,
                    slots,
                    tables,
                    min_score,
                    cap,
                    avail,
                    caps,
                    requests,
                })
        })
}

fn build(case: &Case, all: &[Profile]) -> (Vec<Participant>, Vec<Request>, EventShape) {
    let participants: Vec<Participant> = (0..case.n)
        .map(|i| Participant {
            profile: all[(case.offset + i) % all.len()].clone(),
            availability: case.avail[i].map(|(a, b)| (a.min(b) + 1..=a.max(b) + 1).collect()),
            max_meetings: case.caps[i],
        })
        .collect();
    let mut seen = HashSet::new();
    let requests = case
        .requests
        .iter()
        .filter(|(a, b, _, _)| a != b && seen.insert((*a.min(b), *a.max(b))))
        .map(|&(a, b, meet, priority)| Request {
            a: participants[a].profile.id.clone(),
            b: participants[b].profile.id.clone(),
            kind: if meet {
                RequestKind::Meet
            } else {
                RequestKind::Apart
            },
            priority,
            note: String::new(),
        })
        .collect();
    let end = 9 * 60 + 20 * case.slots as u32;
    let spec = format!("09:00-{:02}:{:02}/20m", end / 60, end % 60);
    let mut shape = EventShape::parse_flags(&[spec], &[], Some(case.tables)).expect("shape");
    shape.min_score = case.min_score;
    shape.max_meetings = case.cap;
    (participants, requests, shape)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_agenda_keeps_every_rule(case in arb_case()) {
        let all = fixtures();
        let (participants, requests, shape) = build(&case, &all);
        let agenda = plan(&participants, &requests, &shape, &PlanOptions {
            candidates: 8,
            ..PlanOptions::default()
        }).expect("plan");
        check(&agenda, &participants, &requests, &shape, &[])?;

        // Lock half of the meetings, then plan again: they stay where they are.
        let locked: Vec<LockedMeeting> = agenda.meetings.iter().step_by(2).map(|m| LockedMeeting {
            slot: m.slot, table: m.table, a: m.a.clone(), b: m.b.clone(),
        }).collect();
        let again = plan(&participants, &requests, &shape, &PlanOptions {
            candidates: 8,
            locked: locked.clone(),
            ..PlanOptions::default()
        }).expect("plan with locks");
        check(&again, &participants, &requests, &shape, &locked)?;
    }
}

fn check(
    agenda: &clustermatch::event::Agenda,
    participants: &[Participant],
    requests: &[Request],
    shape: &EventShape,
    locked: &[LockedMeeting],
) -> Result<(), TestCaseError> {
    let tables = shape.tables.unwrap_or(usize::MAX);
    let by_id: HashMap<&str, &Participant> = participants
        .iter()
        .map(|p| (p.profile.id.as_str(), p))
        .collect();
    let apart: HashSet<(String, String)> = requests
        .iter()
        .filter(|r| r.kind == RequestKind::Apart)
        .map(|r| key(&r.a, &r.b))
        .collect();
    let meet: HashSet<(String, String)> = requests
        .iter()
        .filter(|r| r.kind == RequestKind::Meet)
        .map(|r| key(&r.a, &r.b))
        .collect();
    let locked_keys: HashSet<(String, String)> = locked.iter().map(|l| key(&l.a, &l.b)).collect();
    let mut busy = HashSet::new();
    let mut table_used = HashSet::new();
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut met = HashSet::new();
    for m in &agenda.meetings {
        prop_assert!(
            m.table >= 1 && m.table <= tables,
            "table {} of {}",
            m.table,
            tables
        );
        prop_assert!(table_used.insert((m.slot, m.table)), "table used twice");
        let k = key(&m.a, &m.b);
        prop_assert!(met.insert(k.clone()), "pair met twice");
        prop_assert!(!apart.contains(&k), "kept-apart pair met");
        prop_assert!(
            m.score >= shape.min_score || meet.contains(&k) || locked_keys.contains(&k),
            "below threshold: {} < {}",
            m.score,
            shape.min_score
        );
        for id in [&m.a, &m.b] {
            let p = by_id[id.as_str()];
            if let Some(av) = &p.availability {
                prop_assert!(
                    av.contains(&m.slot),
                    "{} not available in slot {}",
                    id,
                    m.slot
                );
            }
            prop_assert!(
                busy.insert((id.clone(), m.slot)),
                "{} twice in slot {}",
                id,
                m.slot
            );
            *count.entry(id.as_str()).or_default() += 1;
        }
    }
    for p in participants {
        let cap = p.max_meetings.unwrap_or(shape.max_meetings);
        let kept = locked
            .iter()
            .filter(|l| l.a == p.profile.id || l.b == p.profile.id)
            .count();
        let c = count.get(p.profile.id.as_str()).copied().unwrap_or(0);
        prop_assert!(c <= cap.max(kept), "{} over its cap", p.profile.id);
    }
    for l in locked {
        prop_assert!(
            agenda.meetings.iter().any(|m| m.slot == l.slot
                && m.table == l.table
                && key(&m.a, &m.b) == key(&l.a, &l.b)),
            "locked meeting moved"
        );
    }
    let why_not: HashSet<(String, String)> =
        agenda.unscheduled.iter().map(|u| key(&u.a, &u.b)).collect();
    for k in &meet {
        prop_assert!(
            met.contains(k) || why_not.contains(k),
            "requested pair without reason"
        );
    }
    for r in &agenda.recommendations {
        prop_assert!(
            r.scheduled.is_some() || r.unscheduled.is_some(),
            "recommendation without meeting or reason"
        );
    }
    prop_assert!(agenda.stats.total_score <= agenda.stats.upper_bound + 1e-6);
    Ok(())
}

fn key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.into(), b.into())
    } else {
        (b.into(), a.into())
    }
}
