//! Country codes: parsing user spellings (alpha-2, alpha-3, any case, common names) into ISO
//! 3166-1 alpha-2, the `EU` group, and compact numeric codes for scoring.
//!
//! Codes come from the `celes` crate; the 27 EU member states are a fixed, audited list here.

use std::str::FromStr;

/// The 27 member states of the European Union (since 1 February 2020), as ISO alpha-2 codes.
pub const EU27: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// The group code that stands for all [`EU27`] members in `target_countries`.
pub const EU_GROUP: &str = "EU";

/// Parses one user-written country into its alpha-2 code (upper case).
///
/// Accepts alpha-2 and alpha-3 codes in any case, `UK` and `EL` (the EU's codes for the United
/// Kingdom and Greece) and English names. Returns `None` when nothing matches.
///
/// ```
/// assert_eq!(clustermatch::country::parse("fra").as_deref(), Some("FR"));
/// assert_eq!(clustermatch::country::parse("cn").as_deref(), Some("CN"));
/// assert_eq!(clustermatch::country::parse("Atlantis"), None);
/// ```
pub fn parse(value: &str) -> Option<String> {
    thread_local! {
        /// Outcomes of recent spellings: a file repeats a few countries thousands of times, and
        /// `celes` compares a spelling with every country's names.
        static SEEN: std::cell::RefCell<rustc_hash::FxHashMap<String, Option<String>>> =
            std::cell::RefCell::new(rustc_hash::FxHashMap::default());
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(outcome) = seen.get(value) {
            return outcome.clone();
        }
        let outcome = parse_uncached(value);
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(value.to_string(), outcome.clone());
        outcome
    })
}

fn parse_uncached(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match v.to_ascii_uppercase().as_str() {
        "UK" => return Some("GB".into()),
        "EL" => return Some("GR".into()),
        _ => {}
    }
    let squashed: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    celes::Country::from_str(&squashed)
        .ok()
        .map(|c| c.alpha2.to_string())
}

/// The closest valid alpha-2 code or country name to a bad value, for "did you mean".
pub fn suggest(value: &str) -> Option<String> {
    let countries = celes::Country::get_countries();
    if value.trim().len() <= 3 {
        let codes: Vec<&str> = countries.iter().map(|c| c.alpha2).collect();
        crate::error::nearest(value, codes.iter().copied())
    } else {
        let names: Vec<&str> = countries.iter().map(|c| c.long_name).collect();
        let name = crate::error::nearest(value, names.iter().copied())?;
        countries
            .iter()
            .find(|c| c.long_name == name)
            .map(|c| c.alpha2.to_string())
    }
}

/// Parses a country given in a request (`what` names the option), or a usage error naming the
/// option, the value and the nearest valid code.
pub fn parse_option(what: &str, value: &str) -> crate::error::Result<String> {
    parse(value).ok_or_else(|| {
        let hint = suggest(value)
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        crate::error::Error::Usage(format!("{what}: unknown country \"{value}\"{hint}"))
    })
}

/// Whether an alpha-2 code is an EU member state.
pub fn is_eu(alpha2: &str) -> bool {
    EU27.contains(&alpha2)
}

/// A compact number for an alpha-2 code (`A`=0 … `Z`=25, two letters → 0..676), used in fast
/// fields and bitsets. Returns `None` for anything but two ASCII capitals.
pub fn code_number(alpha2: &str) -> Option<u16> {
    let b = alpha2.as_bytes();
    if b.len() != 2 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() {
        return None;
    }
    Some((b[0] - b'A') as u16 * 26 + (b[1] - b'A') as u16)
}

/// The alpha-2 code of a number made by [`code_number`].
pub fn code_from_number(n: u16) -> String {
    let n = n.min(675);
    let a = (b'A' + (n / 26) as u8) as char;
    let b = (b'A' + (n % 26) as u8) as char;
    format!("{a}{b}")
}

/// Number of distinct country numbers.
pub const CODE_SPACE: usize = 26 * 26;

/// A set of countries as a 676-bit bitset (one bit per [`code_number`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountrySet([u64; CODE_SPACE.div_ceil(64)]);

impl CountrySet {
    /// Adds an alpha-2 code (ignored when not two capitals).
    pub fn insert(&mut self, alpha2: &str) {
        if let Some(n) = code_number(alpha2) {
            self.insert_number(n);
        }
    }

    /// Adds a country number.
    pub fn insert_number(&mut self, n: u16) {
        let n = n as usize;
        if n < CODE_SPACE {
            self.0[n / 64] |= 1 << (n % 64);
        }
    }

    /// Whether the set holds the country number.
    #[inline]
    pub fn contains_number(&self, n: u16) -> bool {
        let n = n as usize;
        n < CODE_SPACE && self.0[n / 64] & (1 << (n % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_in_any_case_and_alpha3() {
        assert_eq!(parse("FR").as_deref(), Some("FR"));
        assert_eq!(parse("fr").as_deref(), Some("FR"));
        assert_eq!(parse("DEU").as_deref(), Some("DE"));
        assert_eq!(parse("usa").as_deref(), Some("US"));
        assert_eq!(parse("UK").as_deref(), Some("GB"));
        assert_eq!(parse("China").as_deref(), Some("CN"));
        assert_eq!(parse("XX"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn eu27_is_the_current_union() {
        assert_eq!(EU27.len(), 27);
        assert!(!is_eu("GB"));
        assert!(is_eu("HR"));
        for c in EU27 {
            assert_eq!(parse(c).as_deref(), Some(c), "{c} is a valid code");
        }
    }

    #[test]
    fn suggestions_point_at_the_nearest_country() {
        assert_eq!(suggest("Germny").as_deref(), Some("DE"));
    }

    #[test]
    fn country_numbers_roundtrip_and_sets_work() {
        let n = code_number("CN").unwrap();
        assert_eq!(code_from_number(n), "CN");
        let mut s = CountrySet::default();
        assert!(s.is_empty());
        s.insert("CN");
        assert!(s.contains_number(n));
        assert!(!s.contains_number(code_number("US").unwrap()));
    }
}
