//! The sector taxonomy: 59 sectors (the 51 traded industries of the US Cluster Mapping / European
//! Cluster Observatory plus its 8 emerging industries) under the 14 industrial ecosystems of the
//! EU industrial strategy, each with a description, aliases, keywords and related sectors.
//!
//! The data lives in `taxonomy/sectors.json` and is compiled into the binary. Sector sets are
//! 64-bit masks ([`SectorSet`]) so that scoring a candidate costs a few bit operations.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

const DATA: &str = include_str!("../taxonomy/sectors.json");

/// One industrial ecosystem (upper level).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ecosystem {
    /// Code, e.g. `health`.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// One sector (lower level).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sector {
    /// Code, e.g. `biopharmaceuticals`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// `traded`, `emerging` or `both`.
    pub source: String,
    /// Ecosystem codes the sector belongs to.
    pub ecosystems: Vec<String>,
    /// Other names users type (`biotech`, `ict`, ...).
    pub aliases: Vec<String>,
    /// Codes of related sectors.
    pub related: Vec<String>,
    /// Typical vocabulary of the sector's profiles.
    pub keywords: Vec<String>,
    /// A paragraph on what the industry makes and its cluster themes.
    pub description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    ecosystems: Vec<Ecosystem>,
    sectors: Vec<Sector>,
}

/// How two sectors relate, from strongest to weakest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// No relation.
    None,
    /// The two share an industrial ecosystem.
    Ecosystem,
    /// One lists the other as related.
    Related,
    /// The same sector.
    Same,
}

/// A set of sectors as a bit mask over sector indices (59 sectors fit in 64 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SectorSet(pub u64);

impl SectorSet {
    /// Adds a sector index.
    pub fn insert(&mut self, index: usize) {
        if index < 64 {
            self.0 |= 1 << index;
        }
    }
    /// Whether the set holds the index.
    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Number of sectors.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// Indices in ascending order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(i)
        })
    }
}

/// The whole taxonomy with lookup tables.
#[derive(Debug)]
pub struct Taxonomy {
    sectors: Vec<Sector>,
    ecosystems: Vec<Ecosystem>,
    by_code: HashMap<String, usize>,
    by_alias: HashMap<String, usize>,
    relation: Vec<Vec<Relation>>,
}

static TAXONOMY: LazyLock<Taxonomy> =
    LazyLock::new(|| Taxonomy::from_json(DATA).expect("the compiled-in taxonomy is valid"));

/// The compiled-in taxonomy (immutable, shared).
pub fn taxonomy() -> &'static Taxonomy {
    &TAXONOMY
}

fn normalise(s: &str) -> String {
    s.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

impl Taxonomy {
    /// Parses and checks taxonomy JSON (codes unique, references valid, at most 64 sectors).
    pub fn from_json(json: &str) -> Result<Self, String> {
        let data: Data = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if data.sectors.len() > 64 {
            return Err("more than 64 sectors".into());
        }
        let by_code: HashMap<String, usize> = data
            .sectors
            .iter()
            .enumerate()
            .map(|(i, s)| (s.code.clone(), i))
            .collect();
        if by_code.len() != data.sectors.len() {
            return Err("duplicate sector code".into());
        }
        let mut by_alias = HashMap::new();
        for (i, s) in data.sectors.iter().enumerate() {
            for a in s.aliases.iter().chain(std::iter::once(&s.name)) {
                let key = normalise(a);
                if by_code.contains_key(&key) {
                    continue;
                }
                if let Some(j) = by_alias.insert(key.clone(), i) {
                    if j != i {
                        return Err(format!("alias {a:?} names two sectors"));
                    }
                }
            }
            for r in &s.related {
                if !by_code.contains_key(r) {
                    return Err(format!("{}: unknown related sector {r}", s.code));
                }
            }
            for e in &s.ecosystems {
                if !data.ecosystems.iter().any(|x| &x.code == e) {
                    return Err(format!("{}: unknown ecosystem {e}", s.code));
                }
            }
        }
        let relation = Self::relations(&data.sectors, &by_code);
        Ok(Taxonomy {
            sectors: data.sectors,
            ecosystems: data.ecosystems,
            by_code,
            by_alias,
            relation,
        })
    }

    fn relations(sectors: &[Sector], by_code: &HashMap<String, usize>) -> Vec<Vec<Relation>> {
        let n = sectors.len();
        let mut rel = vec![vec![Relation::None; n]; n];
        for (i, a) in sectors.iter().enumerate() {
            for (j, b) in sectors.iter().enumerate() {
                if a.ecosystems.iter().any(|e| b.ecosystems.contains(e)) {
                    rel[i][j] = Relation::Ecosystem;
                }
            }
        }
        for (i, a) in sectors.iter().enumerate() {
            for r in &a.related {
                let j = by_code[r];
                rel[i][j] = Relation::Related;
                rel[j][i] = Relation::Related;
            }
            rel[i][i] = Relation::Same;
        }
        rel
    }

    /// All sectors in taxonomy order.
    pub fn sectors(&self) -> &[Sector] {
        &self.sectors
    }

    /// All ecosystems.
    pub fn ecosystems(&self) -> &[Ecosystem] {
        &self.ecosystems
    }

    /// The sector at an index.
    pub fn sector(&self, index: usize) -> &Sector {
        &self.sectors[index]
    }

    /// Resolves a code, alias or name (any case, spaces or hyphens for underscores) to an index.
    ///
    /// ```
    /// let t = clustermatch::taxonomy::taxonomy();
    /// let i = t.resolve("biotech").expect("alias");
    /// assert_eq!(t.sector(i).code, "biopharmaceuticals");
    /// ```
    pub fn resolve(&self, value: &str) -> Option<usize> {
        // A value already in normal form (what input files usually hold: the code itself) is
        // looked up as it is, without building its normal form.
        let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        if value.bytes().all(plain) {
            return self.lookup(value);
        }
        self.lookup(&normalise(value))
    }

    fn lookup(&self, key: &str) -> Option<usize> {
        self.by_code
            .get(key)
            .or_else(|| self.by_alias.get(key))
            .copied()
    }

    /// The nearest code or alias to an unknown value, for "did you mean".
    pub fn suggest(&self, value: &str) -> Option<String> {
        let key = normalise(value);
        let names = self
            .by_code
            .keys()
            .chain(self.by_alias.keys())
            .map(String::as_str);
        let near = crate::error::nearest(&key, names)?;
        let i = self.resolve(&near)?;
        Some(self.sectors[i].code.clone())
    }

    /// How two sectors relate.
    pub fn relation(&self, a: usize, b: usize) -> Relation {
        self.relation[a][b]
    }

    /// Codes of a set, in taxonomy order.
    pub fn codes(&self, set: SectorSet) -> Vec<String> {
        set.iter()
            .filter(|&i| i < self.sectors.len())
            .map(|i| self.sectors[i].code.clone())
            .collect()
    }

    /// The set of the given codes (unknown codes are skipped; validation happens earlier).
    pub fn set_of<S: AsRef<str>>(&self, codes: &[S]) -> SectorSet {
        let mut set = SectorSet::default();
        for c in codes {
            if let Some(i) = self.resolve(c.as_ref()) {
                set.insert(i);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_59_sectors_and_14_ecosystems() {
        let t = taxonomy();
        assert_eq!(t.sectors().len(), 59);
        assert_eq!(t.ecosystems().len(), 14);
        for e in t.ecosystems() {
            assert!(
                t.sectors().iter().any(|s| s.ecosystems.contains(&e.code)),
                "ecosystem {} is used",
                e.code
            );
        }
        for s in t.sectors() {
            assert!(
                !s.description.is_empty() && !s.aliases.is_empty(),
                "{}",
                s.code
            );
        }
    }

    #[test]
    fn resolves_codes_aliases_and_names() {
        let t = taxonomy();
        let bio = t.resolve("biopharmaceuticals").unwrap();
        assert_eq!(t.resolve("Biotech"), Some(bio));
        assert_eq!(t.resolve("BIOPHARMACEUTICALS"), Some(bio));
        assert_eq!(t.resolve("medical devices"), t.resolve("medical_devices"));
        assert!(t.resolve("photonics").is_some());
        assert!(t.resolve("water").is_some());
        assert_eq!(t.resolve("no such thing"), None);
    }

    #[test]
    fn suggests_the_nearest_code() {
        assert_eq!(
            taxonomy().suggest("biopharma").as_deref(),
            Some("biopharmaceuticals")
        );
    }

    #[test]
    fn relations_are_symmetric_and_reflexive() {
        let t = taxonomy();
        let n = t.sectors().len();
        for a in 0..n {
            assert_eq!(t.relation(a, a), Relation::Same);
            for b in 0..n {
                assert_eq!(t.relation(a, b), t.relation(b, a));
            }
        }
        let bio = t.resolve("biopharmaceuticals").unwrap();
        let med = t.resolve("medical_devices").unwrap();
        assert!(t.relation(bio, med) >= Relation::Ecosystem);
    }

    #[test]
    fn sector_sets_iterate_in_order() {
        let mut s = SectorSet::default();
        s.insert(5);
        s.insert(1);
        s.insert(58);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 5, 58]);
        assert_eq!(s.len(), 3);
        assert!(s.contains(58) && !s.contains(2));
    }
}
