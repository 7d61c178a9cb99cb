//! The tantivy schema of the profile index, its text analyzer, and the conversion of a
//! [`Profile`] into a tantivy document.
//!
//! Text lives in three indexed fields so that ranking can be field-aware: `about` (description and
//! keywords), `offering` and `seeking`. The whole profile is stored as JSON. Structured signals
//! (sector mask, country, kind, target countries) are fast fields, loaded into memory as columns
//! by [`super::snapshot::Snapshot`].

use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};
use tantivy::{Index, TantivyDocument};

use crate::country;
use crate::profile::Profile;
use crate::taxonomy::SectorSet;

/// Name under which the analyzer is registered on every index opened.
pub const ANALYZER: &str = "cm_en";

/// Bit of the stored sector mask that marks sectors inferred from text.
pub const INFERRED_BIT: u64 = 1 << 63;

/// The English analyzer: simple tokenizer, long tokens removed, lower case, ASCII folding,
/// English stop words, Snowball English stemmer — tantivy's chain, with every step after the
/// splitting done once per distinct word and thread ([`super::stem::EnglishTokenizer`]).
pub fn analyzer() -> TextAnalyzer {
    // Built once (the stop-word set and the filter chain), cloned per use.
    static ANALYZER_CHAIN: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    ANALYZER_CHAIN.get_or_init(build_analyzer).clone()
}

fn build_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(super::stem::EnglishTokenizer::default())
}

/// The analyzer without stemming, used to show matched words as written.
pub fn surface_analyzer() -> TextAnalyzer {
    static SURFACE_CHAIN: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    SURFACE_CHAIN.get_or_init(build_surface_analyzer).clone()
}

fn build_surface_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(super::stem::LONG_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Runs an analyzer over text and returns the terms.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The fields of the profile index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Profile id: untokenized, stored, fast (for lookups, deletes and tie-breaks).
    pub id: Field,
    /// Description and keywords.
    pub about: Field,
    /// What the organisation offers.
    pub offering: Field,
    /// What the organisation seeks.
    pub seeking: Field,
    /// The whole profile as JSON (stored only).
    pub profile: Field,
    /// Display name, as a fast string column (so ranked lists need not read the store);
    /// `None` in indexes built before it existed.
    pub name: Option<Field>,
    /// Sector mask (bit i = taxonomy sector i; [`INFERRED_BIT`] when inferred).
    pub sectors: Field,
    /// Country number ([`country::code_number`]).
    pub country: Field,
    /// Kind number.
    pub kind: Field,
    /// Target country numbers (multi-valued).
    pub targets: Field,
}

impl Fields {
    /// Builds the schema and its fields.
    pub fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            id: b.add_text_field("id", STRING | STORED | FAST),
            about: b.add_text_field("about", text.clone()),
            offering: b.add_text_field("offering", text.clone()),
            seeking: b.add_text_field("seeking", text),
            profile: b.add_text_field("profile", STORED),
            name: Some(b.add_text_field("name", FAST)),
            sectors: b.add_u64_field("sectors", FAST),
            country: b.add_u64_field("country", FAST | INDEXED),
            kind: b.add_u64_field("kind", FAST),
            targets: b.add_u64_field("targets", FAST),
        };
        (b.build(), fields)
    }

    /// Looks the fields up in an opened index's schema (errors if it is not ours).
    pub fn of(schema: &Schema) -> tantivy::Result<Fields> {
        Ok(Fields {
            id: schema.get_field("id")?,
            about: schema.get_field("about")?,
            offering: schema.get_field("offering")?,
            seeking: schema.get_field("seeking")?,
            profile: schema.get_field("profile")?,
            name: schema.get_field("name").ok(),
            sectors: schema.get_field("sectors")?,
            country: schema.get_field("country")?,
            kind: schema.get_field("kind")?,
            targets: schema.get_field("targets")?,
        })
    }

    /// The three text fields.
    pub fn text_fields(&self) -> [Field; 3] {
        [self.about, self.offering, self.seeking]
    }

    /// The document for a profile; `sectors` is the profile's own set or, when it has none, the
    /// inferred one (flagged with [`INFERRED_BIT`]).
    pub fn document(&self, p: &Profile, sectors: SectorSet, inferred: bool) -> TantivyDocument {
        let json = serde_json::to_string(p).unwrap_or_default();
        let about = about_text(p);
        // Room for every value at once (the text twice: as fields and in the JSON), so the
        // document's buffer is not grown by copying.
        let bytes = json.len()
            + about.len()
            + p.offering.len()
            + p.seeking.len()
            + 2 * p.id.len()
            + p.name.len()
            + 10 * p.target_countries.len()
            + 128;
        let mut doc = TantivyDocument::with_capacity(bytes);
        doc.add_text(self.id, &p.id);
        doc.add_text(self.about, about);
        doc.add_text(self.offering, &p.offering);
        doc.add_text(self.seeking, &p.seeking);
        doc.add_text(self.profile, json);
        if let Some(name) = self.name {
            doc.add_text(name, &p.name);
        }
        let mask = sectors.0 | if inferred { INFERRED_BIT } else { 0 };
        doc.add_u64(self.sectors, mask);
        let c = country::code_number(&p.country).unwrap_or(u16::MAX);
        doc.add_u64(self.country, c as u64);
        doc.add_u64(self.kind, p.kind.number() as u64);
        for t in &p.target_countries {
            if let Some(n) = country::code_number(t) {
                doc.add_u64(self.targets, n as u64);
            }
        }
        doc
    }
}

/// The text of a profile's `about` field: name, region, description, then keywords.
pub fn about_text(p: &Profile) -> String {
    let mut s = String::with_capacity(p.name.len() + p.region.len() + p.description.len() + 64);
    for part in [&p.name, &p.region] {
        if !part.is_empty() {
            s.push_str(part);
            s.push_str(". ");
        }
    }
    s.push_str(&p.description);
    for k in &p.keywords {
        s.push_str(". ");
        s.push_str(k);
    }
    s
}

/// Registers the analyzer on an index (tokenizers are not persisted, so on every open).
pub fn register(index: &Index) {
    index.tokenizers().register(ANALYZER, analyzer());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzer_stems_folds_and_drops_stop_words() {
        let mut a = analyzer();
        assert_eq!(
            tokens(&mut a, "The Clusters of Wastewater-Treatment in Zürich"),
            vec!["cluster", "wastewat", "treatment", "zurich"]
        );
    }

    #[test]
    fn document_carries_structured_fields() {
        let (schema, f) = Fields::schema();
        let p = Profile {
            id: "a".into(),
            name: "A".into(),
            country: "CN".into(),
            target_countries: vec!["FR".into(), "DE".into()],
            ..Profile::default()
        };
        let doc = f.document(&p, SectorSet(0b101), true);
        let json = tantivy::schema::document::Document::to_json(&doc, &schema);
        assert!(json.contains("\"targets\":[147,82]"), "{json}");
        assert!(json.contains(&format!("\"sectors\":[{}]", 0b101 | INFERRED_BIT)));
    }
}
