//! Regular expressions compiled once per probe value.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

/// The most memory one compiled regex may take (the regex crate's size
/// limit), so a hostile pattern cannot exhaust the checker.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled regex kept next to its source text, compiled on first use.
///
/// Probes compare and hash by source text; this cache is equal to every
/// other and hashes to nothing. If the source changes after compiling (the
/// probe's fields are public), the regex is compiled again for that use.
#[derive(Default, Clone)]
pub(crate) struct RegexCache(OnceLock<(String, Result<Regex, String>)>);

impl RegexCache {
    /// The compiled form of `source`, or why it does not compile.
    pub(crate) fn get(&self, source: &str) -> Result<Cow<'_, Regex>, String> {
        let (cached_source, compiled) = self.0.get_or_init(|| (source.to_owned(), compile(source)));
        if cached_source == source {
            compiled.as_ref().map(Cow::Borrowed).map_err(Clone::clone)
        } else {
            compile(source).map(Cow::Owned)
        }
    }
}

fn compile(source: &str) -> Result<Regex, String> {
    RegexBuilder::new(source)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

impl PartialEq for RegexCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RegexCache {}

impl std::hash::Hash for RegexCache {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl std::fmt::Debug for RegexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegexCache")
    }
}
