//! The pruned top-k ranking must return exactly what the exhaustive ranking returns: same ids,
//! same order, same scores (within 1e-6), same candidate counts — on a generated corpus, with and
//! without filters, for profile and free-text queries.

use clustermatch::index::Snapshot;
use clustermatch::rank::{self, MatchOptions, ResolvedQuery, Strategy};
use clustermatch::score::ScoringParams;
use clustermatch::taxonomy::taxonomy;
use clustermatch::{Engine, Filters, MatchResult, Profile, ProfileIndex};

/// A small deterministic generator (xorshift) of profiles in the project's schema: sector
/// vocabularies, a shared tail of common words, rare words, skewed countries and targets.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed pick: small indexes are much more frequent.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

const COMMON: &[&str] = &[
    "innovation",
    "partners",
    "members",
    "research",
    "companies",
    "network",
    "projects",
    "development",
    "cluster",
    "support",
    "international",
    "services",
];
const COUNTRIES: &[&str] = &[
    "FR", "DE", "ES", "IT", "NL", "PL", "CN", "US", "BR", "JP", "IN", "SE", "BE", "CA", "KR",
];

fn corpus(n: usize, seed: u64) -> Vec<Profile> {
    let t = taxonomy();
    let sectors: Vec<&str> = t.sectors().iter().map(|s| s.code.as_str()).collect();
    let mut g = Gen(seed);
    let words = |g: &mut Gen, own: &[usize], count: usize| -> String {
        let mut out = Vec::new();
        for _ in 0..count {
            match g.below(10) {
                0..=3 => out.push(COMMON[g.skewed(COMMON.len())].to_string()),
                4..=7 => {
                    let s = own[g.below(own.len())];
                    // Sector vocabulary: the code's parts plus numbered topic words.
                    let code = sectors[s];
                    let part = code.split('_').nth(g.below(2)).unwrap_or(code);
                    out.push(format!("{part} topic{s}x{}", g.skewed(12)));
                }
                _ => out.push(format!("rare{}", g.below(5000))),
            }
        }
        out.join(" ")
    };
    (0..n)
        .map(|i| {
            let own: Vec<usize> = (0..1 + g.below(3))
                .map(|_| g.skewed(sectors.len()))
                .collect();
            let desc_len = 8 + g.below(40);
            let description = words(&mut g, &own, desc_len);
            let n_seek = 3 + g.below(12);
            let seeking = words(&mut g, &own, n_seek);
            let n_offer = 3 + g.below(12);
            let offering = words(&mut g, &own, n_offer);
            let n_kw = g.below(4);
            let keywords = (0..n_kw).map(|_| words(&mut g, &own, 2)).collect();
            let n_targets = g.below(4);
            let targets = (0..n_targets)
                .map(|_| COUNTRIES[g.skewed(COUNTRIES.len())].to_string())
                .collect();
            Profile {
                id: format!("p{i:05}"),
                name: format!("Org {i}"),
                country: COUNTRIES[g.skewed(COUNTRIES.len())].into(),
                // Some profiles without sectors (inferred from text).
                sectors: if g.below(5) == 0 {
                    Vec::new()
                } else {
                    own.iter().map(|&s| sectors[s].to_string()).collect()
                },
                description,
                keywords,
                target_countries: targets,
                seeking,
                offering,
                ..Profile::default()
            }
        })
        .collect()
}

fn resolved(index: &ProfileIndex, snap: &Snapshot, id: &str) -> ResolvedQuery {
    let row = snap.row_of_id(id).unwrap();
    let r = snap.rows[row as usize];
    ResolvedQuery {
        profile: index.get(id).unwrap(),
        sectors: r.sectors,
        sectors_inferred: r.inferred,
    }
}

fn assert_same(a: &MatchResult, b: &MatchResult, what: &str) {
    let ids = |r: &MatchResult| r.matches.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(a), ids(b), "{what}: different ids or order");
    for (x, y) in a.matches.iter().zip(&b.matches) {
        assert!(
            (x.score - y.score).abs() <= 1e-6,
            "{what}: {} {} vs {}",
            x.id,
            x.score,
            y.score
        );
        assert_eq!(x.rank, y.rank);
        assert_eq!(x.reasons, y.reasons, "{what}: reasons of {}", x.id);
    }
    assert_eq!(a.query.candidates, b.query.candidates, "{what}: candidates");
}

#[test]
fn pruned_and_exhaustive_top_k_agree() {
    let engine = Engine::in_memory().unwrap();
    // Two writes, so that the index has a deleted row and more than one commit behind it.
    let profiles = corpus(4000, 0x9e37_79b9_7f4a_7c15);
    engine.upsert(&profiles[..3000]).unwrap();
    engine.upsert(&profiles[2900..]).unwrap();
    engine.delete(&["p00007".to_string()]).unwrap();
    let index = engine.index();
    let snap = index.snapshot();
    let params = ScoringParams::default();
    let variants: Vec<(&str, MatchOptions)> = vec![
        (
            "top 20 with reasons",
            MatchOptions {
                top: 20,
                ..MatchOptions::default()
            },
        ),
        (
            "top 50 bulk",
            MatchOptions {
                top: 50,
                reasons: false,
                ..MatchOptions::default()
            },
        ),
        (
            "top 1",
            MatchOptions {
                top: 1,
                ..MatchOptions::default()
            },
        ),
        (
            "country filter and exclusions",
            MatchOptions {
                top: 10,
                filters: Filters {
                    countries: vec!["FR".into(), "CN".into()],
                    exclude: vec!["p00001".into(), "p00002".into()],
                    ..Filters::default()
                },
                ..MatchOptions::default()
            },
        ),
    ];
    let mut pruned = 0;
    let mut total = 0;
    for i in (0..4000).step_by(53) {
        let id = format!("p{i:05}");
        if !snap.contains_id(&id) {
            continue;
        }
        let q = resolved(index, &snap, &id);
        for (what, opts) in &variants {
            let what = format!("{id}, {what}");
            let full =
                rank::rank_with(index, &snap, &q, &params, opts, Strategy::Exhaustive).unwrap();
            let auto = rank::rank_with(index, &snap, &q, &params, opts, Strategy::Auto).unwrap();
            assert_same(&auto, &full, &what);
            total += 1;
            if let Some(p) = rank::rank_pruned(index, &snap, &q, &params, opts).unwrap() {
                assert_same(&p, &full, &what);
                pruned += 1;
            }
        }
    }
    // The comparison above means something only if pruning actually ran.
    assert!(
        pruned * 2 > total,
        "pruning ran for only {pruned} of {total} rankings"
    );
}

#[test]
fn free_text_queries_agree_too() {
    let engine = Engine::in_memory().unwrap();
    engine.upsert(&corpus(1500, 7)).unwrap();
    let opts = MatchOptions {
        top: 10,
        ..MatchOptions::default()
    };
    for text in [
        "innovation cluster research",
        "rare17 topic3x1",
        "partners members",
    ] {
        // A free-text query as the engine builds it, through both paths.
        let index = engine.index();
        let snap = index.snapshot();
        let profile = Profile {
            name: "(free-text query)".into(),
            description: text.into(),
            seeking: text.into(),
            ..Profile::default()
        };
        let q = ResolvedQuery {
            sectors: clustermatch::index::infer::infer(text, &Default::default()),
            sectors_inferred: true,
            profile,
        };
        let full = rank::rank_with(
            index,
            &snap,
            &q,
            engine.params(),
            &opts,
            Strategy::Exhaustive,
        )
        .unwrap();
        let again =
            rank::rank_with(index, &snap, &q, engine.params(), &opts, Strategy::Auto).unwrap();
        assert_same(&again, &full, text);
        assert!(!full.matches.is_empty(), "{text}");
    }
}

/// A warmed snapshot (lists decoded before any query, as `serve` does) ranks exactly as a cold
/// one, and `keep_warm` warms each snapshot published after a write.
#[test]
fn warm_and_cold_snapshots_rank_the_same() {
    let engine = Engine::in_memory().unwrap();
    engine.upsert(&corpus(2000, 11)).unwrap();
    let opts = MatchOptions {
        top: 20,
        ..MatchOptions::default()
    };
    let ids: Vec<String> = (0..2000).step_by(97).map(|i| format!("p{i:05}")).collect();
    let cold: Vec<MatchResult> = ids
        .iter()
        .map(|id| engine.match_id(id, &opts).unwrap())
        .collect();
    // A new snapshot, warmed before its first query: it takes over the lists the cold one
    // decoded (short ones too, which warming alone leaves to queries) and warms the rest.
    engine.index().reload().unwrap();
    let warmed = engine.index().warm(usize::MAX).unwrap();
    assert!(warmed.lists > 0 && warmed.postings > 0 && warmed.terms > 0);
    assert!(warmed.carried > 0, "{warmed:?}");
    let held = engine.index().snapshot().cache.postings_held();
    assert!(held >= warmed.postings, "{held} < {warmed:?}");
    for (id, before) in ids.iter().zip(&cold) {
        let after = engine.match_id(id, &opts).unwrap();
        assert_same(&after, before, id);
    }

    // Kept warm: the snapshot published by the next write gets its lists in the background.
    engine.index().keep_warm(usize::MAX);
    engine.upsert(&corpus(2100, 12)[2000..]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while engine.index().snapshot().cache.postings_held() < held {
        assert!(
            std::time::Instant::now() < deadline,
            "the new snapshot was not warmed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `Engine::explain_pair` gives the candidate's entry of the query's full ranking: the same
/// score, components, reasons and explanation (the text part normalised by the best BM25 of
/// all candidates), with rank 1.
#[test]
fn a_pair_is_explained_as_in_the_full_ranking() {
    let engine = Engine::in_memory().unwrap();
    engine.upsert(&corpus(600, 5)).unwrap();
    let all = MatchOptions {
        top: 600,
        explain: true,
        ..MatchOptions::default()
    };
    let mut checked = 0;
    for q in ["p00003", "p00101", "p00577"] {
        let full = engine.match_id(q, &all).unwrap();
        assert_eq!(full.matches.len(), 599, "{q}");
        for m in full.matches.iter().step_by(37).chain(full.matches.last()) {
            let mut pair = engine.explain_pair(q, &m.id).unwrap();
            assert_eq!(pair.rank, 1);
            pair.rank = m.rank;
            assert_eq!(&pair, m, "{q} → {}", m.id);
            checked += 1;
        }
    }
    assert!(checked > 40);
    assert!(engine.explain_pair("p00003", "p00003").is_err());
    assert!(engine.explain_pair("p00003", "nope").is_err());
    assert!(engine.explain_pair("nope", "p00003").is_err());
}
