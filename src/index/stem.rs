//! The last step of the English analyzer: stop words out, Snowball English stems, with every
//! word's outcome remembered per thread.
//!
//! Stemming is most of the cost of indexing text, and a corpus repeats a small vocabulary; so
//! [`CachedStemmer`] runs tantivy's own [`StopWordFilter`] and [`Stemmer`] once per distinct word
//! and thread, and the tokens it yields are exactly theirs (a test checks it), so indexes built
//! with and without the cache are the same.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use tantivy::tokenizer::{
    Language, RawTokenizer, Stemmer, StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer,
};

/// Distinct words remembered per thread; the memory is cleared beyond this.
const CAPACITY: usize = 200_000;

thread_local! {
    /// Word -> its stem, or `None` for a stop word.
    static STEMS: RefCell<FxHashMap<Box<str>, Option<Box<str>>>> =
        RefCell::new(FxHashMap::default());
    /// The uncached chain, run on one word at a time.
    static CHAIN: RefCell<TextAnalyzer> = RefCell::new(uncached_chain());
}

fn uncached_chain() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(RawTokenizer::default());
    match StopWordFilter::new(Language::English) {
        Some(stop) => builder
            .filter(stop)
            .filter(Stemmer::new(Language::English))
            .build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

/// Replaces a lower-cased, ASCII-folded word by its stem; `false` for a stop word.
///
/// ```
/// let mut word = String::from("clusters");
/// assert!(clustermatch::index::stem::stem_in_place(&mut word));
/// assert_eq!(word, "cluster");
/// assert!(!clustermatch::index::stem::stem_in_place(&mut String::from("the")));
/// ```
pub fn stem_in_place(word: &mut String) -> bool {
    STEMS.with(|stems| {
        let mut stems = stems.borrow_mut();
        if let Some(outcome) = stems.get(word.as_str()) {
            // The remembered stem is written straight into the token, not copied first.
            return apply(word, outcome.as_deref());
        }
        let key: Box<str> = word.as_str().into();
        let outcome = stem_uncached(word);
        let kept = apply(word, outcome.as_deref());
        if stems.len() >= CAPACITY {
            stems.clear();
        }
        stems.insert(key, outcome);
        kept
    })
}

/// Puts a word's outcome in its place: its stem, or `false` for a stop word.
fn apply(word: &mut String, outcome: Option<&str>) -> bool {
    match outcome {
        Some(stem) => {
            if stem != word.as_str() {
                word.clear();
                word.push_str(stem);
            }
            true
        }
        None => false,
    }
}

fn stem_uncached(word: &str) -> Option<Box<str>> {
    CHAIN.with(|chain| {
        let mut chain = chain.borrow_mut();
        let mut stream = chain.token_stream(word);
        stream
            .advance()
            .then(|| stream.token().text.as_str().into())
    })
}

/// Token filter: stop words out, English stems (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct CachedStemmer;

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter { inner: tokenizer }
    }
}

/// A tokenizer followed by [`CachedStemmer`].
#[derive(Clone)]
pub struct CachedStemmerFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
        }
    }
}

/// The token stream of [`CachedStemmerFilter`].
pub struct CachedStemmerStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for CachedStemmerStream<T> {
    fn advance(&mut self) -> bool {
        while self.tail.advance() {
            if stem_in_place(&mut self.tail.token_mut().text) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer};

    fn run(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut out = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn cached_chain_yields_exactly_tantivys_tokens() {
        let front = || {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
        };
        let mut plain = match StopWordFilter::new(Language::English) {
            Some(stop) => front()
                .filter(stop)
                .filter(Stemmer::new(Language::English))
                .build(),
            None => front().filter(Stemmer::new(Language::English)).build(),
        };
        let mut cached = front().filter(CachedStemmer).build();
        let text = "The Clusters of Wastewater-Treatment in Zürich: an innovative network \
                    bringing together SMEs, universities and the clusters' members; being \
                    was is are a an THE Running runs ran hydrogenation électrique";
        // Twice: the second run is served from the cache.
        for _ in 0..2 {
            assert_eq!(run(&mut cached, text), run(&mut plain, text));
        }
    }
}
