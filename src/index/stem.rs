//! The English analyzer's work after splitting: long words out, lower case, ASCII folding, stop
//! words out, Snowball English stems — with every word's outcome remembered per thread.
//!
//! Stemming is most of the cost of indexing text, and a corpus repeats a small vocabulary; so
//! [`EnglishTokenizer`] splits text exactly as tantivy's [`SimpleTokenizer`] does and runs
//! tantivy's own filters ([`RemoveLongFilter`], [`LowerCaser`], [`AsciiFoldingFilter`],
//! [`StopWordFilter`], [`Stemmer`]) once per distinct word as written and thread. The tokens it
//! yields are exactly those of the plain chain (tests check it), so indexes built with and
//! without the cache are the same.
//!
//! [`SimpleTokenizer`]: tantivy::tokenizer::SimpleTokenizer
//! [`RemoveLongFilter`]: tantivy::tokenizer::RemoveLongFilter

use std::borrow::Cow;
use std::cell::RefCell;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenStream, Tokenizer,
};

/// Distinct words remembered per thread and table; the memory is cleared beyond this.
const CAPACITY: usize = 200_000;

/// Words of this many bytes or more (as written) are dropped, as `RemoveLongFilter::limit(40)`
/// does.
pub const LONG_WORD: usize = 40;

thread_local! {
    /// Word as written -> its term, or `None` when it is dropped (a stop word).
    static WRITTEN: RefCell<Memo> = RefCell::new(Memo::default());
    /// The uncached chain from a word as written: lower case, folding, stop words, stems.
    static WRITTEN_CHAIN: RefCell<TextAnalyzer> = RefCell::new(chain());
}

/// tantivy's filters after the splitting, on one word: lower case, folding, stop words, stems.
fn chain() -> TextAnalyzer {
    let mut builder = TextAnalyzer::builder(RawTokenizer::default())
        .dynamic()
        .filter_dynamic(LowerCaser)
        .filter_dynamic(AsciiFoldingFilter);
    if let Some(stop) = StopWordFilter::new(Language::English) {
        builder = builder.filter_dynamic(stop);
    }
    builder
        .filter_dynamic(Stemmer::new(Language::English))
        .build()
}

/// Runs the uncached chain on one word as written: its term, or `None` when the chain drops it.
fn run_chain(word: &str) -> Option<String> {
    let first = |chain: &mut TextAnalyzer| {
        let mut stream = chain.token_stream(word);
        stream.advance().then(|| stream.token().text.clone())
    };
    WRITTEN_CHAIN
        .try_with(|chain| first(&mut chain.borrow_mut()))
        // Only while the thread is being torn down: a fresh chain.
        .unwrap_or_else(|_| first(&mut chain()))
}

/// A word's length and first 16 bytes (zero-padded): most words are told apart by two integer
/// comparisons, and hashed from those integers.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    head: [u64; 2],
    len: usize,
}

/// Odd multiplier of the hash (2^64 / golden ratio).
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Key {
    fn of(word: &[u8]) -> Key {
        let mut head = [0; 16];
        let n = word.len().min(16);
        if let (Some(to), Some(from)) = (head.get_mut(..n), word.get(..n)) {
            to.copy_from_slice(from);
        }
        let (a, b) = head.split_at(8);
        Key {
            head: [le_u64(a), le_u64(b)],
            len: word.len(),
        }
    }

    /// The key of `text[from..from + len]`, read as two whole words of the text when it is
    /// long enough (the common case: no byte copy).
    fn of_in(text: &[u8], from: usize, len: usize) -> Key {
        let Some(window) = text.get(from..from + 16) else {
            return Key::of(text.get(from..from + len).unwrap_or_default());
        };
        let (a, b) = window.split_at(8);
        Key {
            head: [
                le_u64(a) & low_bytes(len),
                le_u64(b) & low_bytes(len.saturating_sub(8)),
            ],
            len,
        }
    }

    /// The hash: its high bits pick the slot.
    fn hash(&self, word: &[u8]) -> u64 {
        let mut h = (self.head[0] ^ self.len as u64).wrapping_mul(MIX);
        h = (h.rotate_left(26) ^ self.head[1]).wrapping_mul(MIX);
        // Longer words (rare) mix in the rest of their bytes.
        if let Some(rest) = word.get(16..) {
            for chunk in rest.chunks(8) {
                h = (h.rotate_left(26) ^ le_u64(chunk)).wrapping_mul(MIX);
            }
        }
        h
    }
}

/// A mask of the low `n` bytes of a u64 (all of them from 8 on).
fn low_bytes(n: usize) -> u64 {
    u64::MAX.checked_shr(64 - 8 * n.min(8) as u32).unwrap_or(0)
}

/// Up to 8 bytes as a little-endian integer (missing bytes are zeros).
fn le_u64(chunk: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(chunk) {
        Ok(bytes) => u64::from_le_bytes(bytes),
        Err(_) => {
            let mut bytes = [0; 8];
            for (to, from) in bytes.iter_mut().zip(chunk) {
                *to = *from;
            }
            u64::from_le_bytes(bytes)
        }
    }
}

/// One remembered word: its key, where the word and its term start in [`Memo::text`], and the
/// term's length ([`DROPPED`] for a dropped word); a free slot has length 0.
#[derive(Clone, Copy, Default)]
struct Entry {
    head: [u64; 2],
    len: u32,
    word: u32,
    term: u32,
    term_len: u32,
}

/// [`Entry::term_len`] of a word that the chain drops (a stop word).
const DROPPED: u32 = u32::MAX;

/// Longer words are not remembered (their lengths and offsets must fit in 32 bits).
const MAX_MEMO_WORD: usize = 1 << 16;

impl Entry {
    fn is(&self, key: &Key) -> bool {
        self.head == key.head && self.len as usize == key.len
    }
}

/// Words and their outcomes in one open-addressing table (the entries in the table itself, at
/// most two thirds full) whose words and terms live in one string: a look-up hashes the word
/// once, reads one entry and mostly compares integers, with no allocation per word.
#[derive(Default)]
struct Memo {
    /// Power-of-two table.
    slots: Vec<Entry>,
    /// 64 − log2(slots.len()): a hash shifted right by this is a slot.
    shift: u32,
    /// Entries in use.
    count: usize,
    text: String,
}

impl Memo {
    /// The slot of a word (`Ok`), or the free slot where it would go (`Err`; `usize::MAX` when
    /// the table is empty).
    #[inline]
    fn find(&self, key: &Key, hash: u64, word: &str) -> Result<usize, usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut slot = (hash.checked_shr(self.shift).unwrap_or(0)) as usize;
        for _ in 0..self.slots.len() {
            let Some(e) = self.slots.get(slot) else { break };
            if e.len == 0 {
                return Err(slot);
            }
            if e.is(key) && (key.len <= 16 || self.word(e) == Some(word)) {
                return Ok(slot);
            }
            slot = (slot + 1) & mask;
        }
        Err(usize::MAX)
    }

    fn word(&self, e: &Entry) -> Option<&str> {
        let start = e.word as usize;
        self.text.get(start..start + e.len as usize)
    }

    /// The term in a slot (`None`: dropped).
    fn term(&self, slot: usize) -> Option<&str> {
        let e = self.slots.get(slot)?;
        if e.term_len == DROPPED {
            return None;
        }
        let start = e.term as usize;
        self.text.get(start..start + e.term_len as usize)
    }

    /// Remembers a word's outcome (clearing everything first when full); its slot.
    fn insert(&mut self, key: Key, hash: u64, word: &str, term: Option<&str>) -> usize {
        if self.count >= CAPACITY || self.text.len() > u32::MAX as usize / 2 {
            *self = Memo::default();
        }
        if (self.count + 1) * 3 > self.slots.len() * 2 {
            self.grow();
        }
        match self.find(&key, hash, word) {
            Ok(slot) => slot,
            Err(slot) => {
                let word_at = self.push(word);
                let (term_at, term_len) = match term {
                    Some(t) => (self.push(t), t.len() as u32),
                    None => (0, DROPPED),
                };
                // The table is at most two thirds full, so the slot is always there.
                if let Some(e) = self.slots.get_mut(slot) {
                    *e = Entry {
                        head: key.head,
                        len: key.len as u32,
                        word: word_at,
                        term: term_at,
                        term_len,
                    };
                    self.count += 1;
                }
                slot
            }
        }
    }

    fn push(&mut self, s: &str) -> u32 {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        start
    }

    /// Doubles the table and places every entry again.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![Entry::default(); size]);
        self.shift = 64 - size.trailing_zeros();
        let mask = size - 1;
        for e in old.into_iter().filter(|e| e.len != 0) {
            let key = Key {
                head: e.head,
                len: e.len as usize,
            };
            let word = self.word(&e).unwrap_or_default();
            let mut slot = (key.hash(word.as_bytes()) >> self.shift) as usize;
            while self.slots.get(slot).is_some_and(|s| s.len != 0) {
                slot = (slot + 1) & mask;
            }
            if let Some(s) = self.slots.get_mut(slot) {
                *s = e;
            }
        }
    }
}

/// A word's term through a memo (its key already made), running the uncached chain on words it
/// does not know; `None` when the word is dropped.
#[inline]
fn term_with<'m>(memo: &'m mut Memo, key: Key, word: &str) -> Option<Cow<'m, str>> {
    let hash = key.hash(word.as_bytes());
    match memo.find(&key, hash, word) {
        Ok(slot) => memo.term(slot).map(Cow::Borrowed),
        Err(_) if word.len() > MAX_MEMO_WORD => run_chain(word).map(Cow::Owned),
        Err(_) => {
            let outcome = run_chain(word);
            let slot = memo.insert(key, hash, word, outcome.as_deref());
            memo.term(slot).map(Cow::Borrowed)
        }
    }
}

/// The English analyzer's tokenizer: tantivy's `SimpleTokenizer` splitting (runs of
/// alphanumeric characters), then each word's term through the per-thread memo (see the module
/// documentation). Positions and offsets are those of `SimpleTokenizer`.
#[derive(Clone, Debug, Default)]
pub struct EnglishTokenizer {
    token: Token,
}

impl Tokenizer for EnglishTokenizer {
    type TokenStream<'a> = EnglishStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> EnglishStream<'a> {
        self.token.reset();
        // The thread's memo moves into the stream for its life: one thread-local access per
        // text, not per word.
        let memo = WRITTEN
            .try_with(|m| std::mem::take(&mut *m.borrow_mut()))
            .unwrap_or_default();
        EnglishStream {
            text,
            at: 0,
            token: &mut self.token,
            memo,
        }
    }
}

/// The token stream of [`EnglishTokenizer`].
pub struct EnglishStream<'a> {
    text: &'a str,
    /// Byte where the search for the next word starts.
    at: usize,
    token: &'a mut Token,
    memo: Memo,
}

impl Drop for EnglishStream<'_> {
    fn drop(&mut self) {
        let memo = std::mem::take(&mut self.memo);
        // A stream opened while another was alive on this thread got an empty memo; keep the
        // one that knows more words.
        let _ = WRITTEN.try_with(|m| {
            let mut kept = m.borrow_mut();
            if kept.count <= memo.count {
                *kept = memo;
            }
        });
    }
}

impl TokenStream for EnglishStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((from, to)) = next_word(self.text, self.at) {
            self.at = to;
            self.token.position = self.token.position.wrapping_add(1);
            let Some(word) = self.text.get(from..to) else {
                return false;
            };
            if word.len() >= LONG_WORD {
                continue;
            }
            let key = Key::of_in(self.text.as_bytes(), from, word.len());
            if let Some(term) = term_with(&mut self.memo, key, word) {
                self.token.text.clear();
                self.token.text.push_str(&term);
                self.token.offset_from = from;
                self.token.offset_to = to;
                return true;
            }
        }
        self.token.text.clear();
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// The byte range of the next run of alphanumeric characters at or after `at` (a character
/// boundary), as `SimpleTokenizer` splits.
#[inline]
fn next_word(text: &str, at: usize) -> Option<(usize, usize)> {
    let from = skip(text, at, false)?;
    let to = skip(text, from, true).unwrap_or(text.len());
    Some((from, to))
}

/// Byte classes for [`skip`]: ASCII letters and digits are words, other ASCII bytes separate
/// words, and bytes of other characters need decoding.
const CLASS: [u8; 256] = {
    let mut class = [NON_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        class[b] = if (b as u8).is_ascii_alphanumeric() {
            WORD
        } else {
            SEPARATOR
        };
        b += 1;
    }
    class
};
const SEPARATOR: u8 = 0;
const WORD: u8 = 1;
const NON_ASCII: u8 = 2;

/// The first character boundary at or after `at` whose character is (`alnum: false`) or is not
/// (`alnum: true`) alphanumeric, `None` at the end of the text. ASCII bytes are classified by
/// a table, without decoding.
#[inline]
fn skip(text: &str, mut at: usize, alnum: bool) -> Option<usize> {
    let same = if alnum { WORD } else { SEPARATOR };
    loop {
        let rest = text.as_bytes().get(at..)?;
        let n = rest.iter().position(|&b| CLASS[b as usize] != same)?;
        at += n;
        if rest.get(n).is_some_and(u8::is_ascii) {
            return Some(at);
        }
        let c = text.get(at..)?.chars().next()?;
        if c.is_alphanumeric() == alnum {
            at += c.len_utf8();
            continue;
        }
        return Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tantivy::tokenizer::{RemoveLongFilter, SimpleTokenizer};

    fn run(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize, usize, usize)> {
        let mut out = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            out.push((
                t.text.clone(),
                t.position,
                t.offset_from,
                t.offset_to,
                t.position_length,
            ));
        }
        out
    }

    /// tantivy's own chain, with nothing cached.
    fn plain() -> TextAnalyzer {
        let front = || {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(LONG_WORD))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
        };
        match StopWordFilter::new(Language::English) {
            Some(stop) => front()
                .filter(stop)
                .filter(Stemmer::new(Language::English))
                .build(),
            None => front().filter(Stemmer::new(Language::English)).build(),
        }
    }

    const TEXT: &str = "The Clusters of Wastewater-Treatment in Zürich: an innovative network \
        bringing together SMEs, universities and the clusters' members; being was is are a an \
        THE Running runs ran hydrogenation électrique ÉLECTRIQUE Straße ǅemal Æsir İstanbul ℌ \
        日本語 Ⅻ x² e\u{301}clair 123 4G 3.5 a_b \
        aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \
        éééééééééééééééééééé éééééééééééééééééééa ﬁnancing Ⅷ ① end";

    #[test]
    fn cached_chain_yields_exactly_tantivys_tokens() {
        let mut cached = crate::index::schema::analyzer();
        let expected = run(&mut plain(), TEXT);
        assert!(expected.len() > 30);
        // Twice: the second run is served from the memo.
        for _ in 0..2 {
            assert_eq!(run(&mut cached, TEXT), expected);
        }
        assert!(run(&mut cached, "").is_empty());
        assert!(run(&mut cached, " ,; the ").is_empty());
    }

    #[test]
    fn nested_streams_and_a_full_memo_change_nothing() {
        let mut outer = crate::index::schema::analyzer();
        let mut inner = crate::index::schema::analyzer();
        let expected = run(&mut plain(), TEXT);
        let mut stream = outer.token_stream(TEXT);
        assert!(stream.advance());
        // The inner stream gets an empty memo while the outer one holds the thread's memo.
        assert_eq!(run(&mut inner, TEXT), expected);
        drop(stream);
        assert_eq!(run(&mut inner, TEXT), expected);

        let mut memo = Memo::default();
        let key = |w: &str| {
            let k = Key::of(w.as_bytes());
            (k, k.hash(w.as_bytes()))
        };
        for i in 0..CAPACITY + 10 {
            let word = format!("w{i}");
            let (k, h) = key(&word);
            let at = memo.insert(k, h, &word, Some(&word));
            assert_eq!(memo.term(at), Some(word.as_str()));
        }
        assert!(memo.count < 20);
        let (k, h) = key("w1");
        assert!(memo.find(&k, h, "w1").is_err());
        let last = format!("w{}", CAPACITY + 9);
        let (k, h) = key(&last);
        let at = memo.find(&k, h, &last).ok();
        assert_eq!(at.and_then(|at| memo.term(at)), Some(last.as_str()));
    }

    #[test]
    fn keys_read_from_the_text_are_the_keys_of_the_words() {
        let text = "a ab abcdefg abcdefgh abcdefghi abcdefghijklmnop abcdefghijklmnopq é end";
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some((start, end)) = next_word(text, from) {
            for to in start..=end {
                let word = bytes.get(start..to).unwrap_or_default();
                assert!(Key::of_in(bytes, start, to - start) == Key::of(word));
            }
            from = end;
        }
        assert!(Key::of(b"ab") != Key::of(b"ab\0"));
    }

    #[test]
    fn long_words_with_the_same_key_are_told_apart() {
        let mut memo = Memo::default();
        let words = [
            "abcdefghijklmnopX",
            "abcdefghijklmnopY",
            "abcdefghijklmnopZZ",
        ];
        for (i, w) in words.iter().enumerate() {
            let k = Key::of(w.as_bytes());
            memo.insert(k, k.hash(w.as_bytes()), w, Some(&i.to_string()));
        }
        for (i, w) in words.iter().enumerate() {
            let k = Key::of(w.as_bytes());
            let slot = memo.find(&k, k.hash(w.as_bytes()), w).ok();
            assert_eq!(
                slot.and_then(|s| memo.term(s)),
                Some(i.to_string().as_str())
            );
        }
        // Words too long to remember go through the chain every time.
        let huge = "Ab".repeat(MAX_MEMO_WORD);
        let key = Key::of(huge.as_bytes());
        for _ in 0..2 {
            let got = term_with(&mut memo, key, &huge).map(Cow::into_owned);
            assert_eq!(got, run_chain(&huge));
            assert!(got.is_some_and(|t| !t.contains('A')));
        }
        assert_eq!(memo.count, words.len());
    }

    proptest! {
        #[test]
        fn any_text_gives_tantivys_tokens(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9]{1,12}",
                    "[a-z]{38,42}",
                    "[ -/:-@\\[-`{-~\t\n]{1,3}",
                    "[àéîõüßÆæØøÅåÇçÑñİıǅ]{1,4}",
                    "[日本語Ⅻ²①ﬁℌ\u{301}\u{200B}\u{A0}]{1,3}",
                    Just("the".to_string()),
                    Just("Running".to_string()),
                ],
                0..40,
            )
        ) {
            let text: String = parts.concat();
            let mut cached = crate::index::schema::analyzer();
            prop_assert_eq!(run(&mut cached, &text), run(&mut plain(), &text));
        }
    }
}
