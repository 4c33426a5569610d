//! keepalived.conf's lexical rules, as keepalived 2.2 reads a file: a line
//! is a statement; `!` and `#` start a comment outside double quotes
//! (`\!` and `\#` are the characters themselves); `{` and `}` outside
//! double quotes stand alone wherever they are; words are split on blanks,
//! and a word starting with `"` runs to the next `"` (no escapes: those
//! belong to the few keys keepalived re-reads with quotes and escapes,
//! see [`escaped_words`]). A line starting with `include` reads the files
//! its glob matches (relative to the including file's directory) in its
//! place; an include cycle is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::glob;
use crate::import::{ErrorKind, ImportError, Location, WarningKind, Warnings};

/// What the lexer gives the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A statement's words (quotes removed), and its text as written
    /// (comments removed), for keys keepalived re-reads with escapes.
    Line {
        words: Vec<(String, Location)>,
        raw: String,
    },
    /// `{`
    Open,
    /// `}`
    Close,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub at: Location,
}

/// Deepest include nesting followed.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Most files read for one configuration.
const MAX_FILES: usize = 10_000;

/// Reads a file and the files it includes into one token stream.
#[derive(Debug)]
pub(crate) struct Lexer<'w> {
    /// The files being read, outermost first (canonical paths), to refuse
    /// cycles.
    stack: Vec<PathBuf>,
    files_read: usize,
    pub tokens: Vec<Token>,
    warnings: &'w mut Warnings,
}

/// One character of a logical line and where it is.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    line: u32,
    column: u32,
}

impl<'w> Lexer<'w> {
    pub fn new(warnings: &'w mut Warnings) -> Self {
        Lexer {
            stack: Vec::new(),
            files_read: 0,
            tokens: Vec::new(),
            warnings,
        }
    }

    /// Lex `text`, read from `path` (or named so).
    pub fn lex_text(&mut self, text: &str, path: &Path) -> Result<(), ImportError> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.stack.push(canonical);
        self.files_read += 1;
        let result = self.lex_lines(text, path);
        self.stack.pop();
        result
    }

    fn lex_file(&mut self, path: &Path, from: &Location) -> Result<(), ImportError> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if self.stack.contains(&canonical) {
            return Err(ImportError::at(
                from,
                ErrorKind::Include,
                format!(
                    "include: {} is already being read (an include cycle)",
                    path.display()
                ),
            ));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ImportError::at(
                from,
                ErrorKind::Include,
                format!("include: more than {MAX_INCLUDE_DEPTH} levels of includes"),
            ));
        }
        if self.files_read >= MAX_FILES {
            return Err(ImportError::at(
                from,
                ErrorKind::Include,
                format!("include: more than {MAX_FILES} files"),
            ));
        }
        let text = std::fs::read(path).map_err(|e| {
            ImportError::at(
                from,
                ErrorKind::Include,
                format!("include: cannot read {}: {e}", path.display()),
            )
        })?;
        let text = String::from_utf8_lossy(&text);
        self.lex_text(&text, path)
    }

    fn lex_lines(&mut self, text: &str, path: &Path) -> Result<(), ImportError> {
        let file: Arc<Path> = Arc::from(path);
        for (n, raw) in text.split('\n').enumerate() {
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let mut chars: Vec<Ch> = raw
                .chars()
                .enumerate()
                .map(|(i, c)| Ch {
                    c,
                    line,
                    column: u32::try_from(i + 1).unwrap_or(u32::MAX),
                })
                .collect();
            decomment(&mut chars);
            self.logical_line(&chars, &file, path)?;
        }
        Ok(())
    }

    fn logical_line(
        &mut self,
        chars: &[Ch],
        file: &Arc<Path>,
        path: &Path,
    ) -> Result<(), ImportError> {
        let start = chars.iter().position(|c| !is_blank(c.c));
        let Some(start) = start else { return Ok(()) };
        let chars = &chars[start..];
        let at = |c: &Ch| Location::new(file.clone(), c.line, c.column);
        let text: String = chars.iter().map(|c| c.c).collect();

        if let Some(rest) = include_pattern(&text) {
            return self.include(rest.trim_matches(is_blank), &at(&chars[0]), path);
        }
        match chars[0].c {
            '$' => {
                return Err(ImportError::at(
                    &at(&chars[0]),
                    ErrorKind::Unsupported,
                    "$NAME definitions and substitutions are not supported: expand them first",
                ));
            }
            '@' => {
                return Err(ImportError::at(
                    &at(&chars[0]),
                    ErrorKind::Unsupported,
                    "@ conditional lines (config_id) are not supported: keep the lines for this host only",
                ));
            }
            '~' => {
                return Err(ImportError::at(
                    &at(&chars[0]),
                    ErrorKind::Unsupported,
                    "~SEQ and ~LST are not supported: write the lines out",
                ));
            }
            _ => {}
        }
        self.segments(chars, file)
    }

    /// Split a line at braces outside double quotes, as keepalived's
    /// `read_line` does, and each piece into words.
    fn segments(&mut self, chars: &[Ch], file: &Arc<Path>) -> Result<(), ImportError> {
        let at = |c: &Ch| Location::new(file.clone(), c.line, c.column);
        let mut seg_start = 0;
        let mut quote = false;
        for (i, c) in chars.iter().enumerate() {
            match c.c {
                '"' => quote = !quote,
                '{' | '}' if !quote => {
                    self.words(&chars[seg_start..i], file)?;
                    let kind = if c.c == '{' {
                        TokenKind::Open
                    } else {
                        TokenKind::Close
                    };
                    self.push(kind, at(c));
                    seg_start = i + 1;
                }
                _ => {}
            }
        }
        self.words(&chars[seg_start..], file)
    }

    /// One statement's words: blank-separated, a word starting with `"`
    /// running to the next `"` (keepalived's `alloc_strvec`).
    fn words(&mut self, chars: &[Ch], file: &Arc<Path>) -> Result<(), ImportError> {
        let at = |c: &Ch| Location::new(file.clone(), c.line, c.column);
        let Some(first) = chars.iter().position(|c| !is_blank(c.c)) else {
            return Ok(());
        };
        let chars = &chars[first..];
        let mut words = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if is_blank(chars[i].c) {
                i += 1;
                continue;
            }
            let start = at(&chars[i]);
            let mut word = String::new();
            if chars[i].c == '"' {
                i += 1;
                while i < chars.len() && chars[i].c != '"' {
                    word.push(chars[i].c);
                    i += 1;
                }
                if i == chars.len() {
                    return Err(ImportError::at(
                        &start,
                        ErrorKind::Syntax,
                        "unterminated quote: no closing \" on this line",
                    ));
                }
                i += 1;
            } else {
                while i < chars.len() && !is_blank(chars[i].c) && chars[i].c != '"' {
                    word.push(chars[i].c);
                    i += 1;
                }
            }
            words.push((word, start));
        }
        let raw: String = chars.iter().map(|c| c.c).collect();
        let here = at(&chars[0]);
        self.push(
            TokenKind::Line {
                words,
                raw: raw.trim_end_matches(is_blank).to_owned(),
            },
            here,
        );
        Ok(())
    }

    fn push(&mut self, kind: TokenKind, at: Location) {
        self.tokens.push(Token { kind, at });
    }

    fn include(&mut self, pattern: &str, at: &Location, path: &Path) -> Result<(), ImportError> {
        if pattern.is_empty() {
            return Err(ImportError::at(
                at,
                ErrorKind::Include,
                "include: no file named",
            ));
        }
        let pattern = pattern.to_owned();
        let base = path.parent().unwrap_or(Path::new(""));
        let full = if Path::new(&pattern).is_absolute() {
            PathBuf::from(&pattern)
        } else {
            base.join(&pattern)
        };
        let full = full.to_string_lossy().into_owned();
        let matched = glob::expand(&full).map_err(|e| {
            ImportError::at(at, ErrorKind::Include, format!("include {pattern}: {e}"))
        })?;
        if matched.is_empty() {
            if glob::has_wildcards(&pattern) {
                self.warnings.push(
                    at,
                    WarningKind::NotCarriedOver,
                    "include",
                    format!("{pattern} matches no file: nothing included"),
                );
                return Ok(());
            }
            return Err(ImportError::at(
                at,
                ErrorKind::Include,
                format!("include: no such file {full}"),
            ));
        }
        for file in matched {
            self.lex_file(&file, at)?;
        }
        Ok(())
    }
}

/// The pattern of an `include` line (keepalived's `include`, and its
/// `includer`/`includem`/`includew`/`includeb`/`includea` variants, which
/// differ only in which missing files they report).
fn include_pattern(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("include")?;
    let mut chars = rest.chars();
    match chars.next()? {
        c if is_blank(c) => Some(rest),
        'r' | 'm' | 'w' | 'b' | 'a' if chars.next().is_some_and(is_blank) => Some(&rest[1..]),
        _ => None,
    }
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

/// Remove a comment (`!` or `#` outside double quotes, not escaped) from
/// a line, as keepalived's `decomment` does: `\#` and `\!` outside quotes
/// become plain `#` and `!`. A backslash at the end of a line stays (there
/// are no continuation lines outside `$NAME` definitions).
fn decomment(chars: &mut Vec<Ch>) {
    let mut quote = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i].c {
            '"' => quote = !quote,
            '\\' => {
                if i + 1 < chars.len() && !quote && matches!(chars[i + 1].c, '#' | '!') {
                    chars.remove(i);
                    i += 1;
                    continue;
                }
                i += 2;
                continue;
            }
            '!' | '#' if !quote => {
                chars.truncate(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    while chars.last().is_some_and(|c| is_blank(c.c)) {
        chars.pop();
    }
}

/// A statement's text split as keepalived's `alloc_strvec_quoted_escaped`
/// splits it, for the keys it re-reads so (`misc_path`, scripts, `regex`):
/// `"..."` and `'...'` group, anywhere in a word, and backslash escapes
/// (`\n`, `\t`, `\x41`, `\101`, `\cA`, `\"`...) are resolved. `None` for an
/// unterminated quote or a backslash at the end.
pub(crate) fn escaped_words(text: &str) -> Option<Vec<String>> {
    let chars: Vec<Ch> = text
        .chars()
        .map(|c| Ch {
            c,
            line: 0,
            column: 0,
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_blank(chars[i].c) {
            i += 1;
            continue;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let ch = chars[i].c;
            match (quote, ch) {
                (_, '\\') => {
                    let (value, used) = escape(&chars[i + 1..])?;
                    word.push(value);
                    i += 1 + used;
                    continue;
                }
                (Some(q), _) if ch == q => quote = None,
                (Some(_), _) => word.push(ch),
                (None, '"' | '\'') => quote = Some(ch),
                (None, _) if is_blank(ch) => break,
                (None, _) => word.push(ch),
            }
            i += 1;
        }
        if quote.is_some() {
            return None;
        }
        out.push(word);
    }
    Some(out)
}

/// The character a backslash escape stands for, and how many characters
/// after the backslash it used; `None` if nothing follows it.
fn escape(rest: &[Ch]) -> Option<(char, usize)> {
    let first = rest.first()?.c;
    if first == 'x' && rest.get(1).is_some_and(|c| c.c.is_ascii_hexdigit()) {
        let digits = rest[1..]
            .iter()
            .take_while(|c| c.c.is_ascii_hexdigit())
            .count();
        let mut v: u32 = 0;
        for c in &rest[1..1 + digits] {
            v = ((v << 4) | c.c.to_digit(16).unwrap_or(0)) & 0xff;
        }
        return Some((char::from(v as u8), 1 + digits));
    }
    if first == 'c' && rest.len() > 1 {
        let v = (rest[1].c as u32) & 0x1f;
        return Some((char::from(v as u8), 2));
    }
    if ('0'..='7').contains(&first) {
        let digits = rest
            .iter()
            .take(3)
            .take_while(|c| ('0'..='7').contains(&c.c))
            .count();
        let mut v: u32 = 0;
        for c in &rest[..digits] {
            v = ((v << 3) + c.c.to_digit(8).unwrap_or(0)) & 0xff;
        }
        return Some((char::from(v as u8), digits));
    }
    let c = match first {
        'a' => '\x07',
        'b' => '\x08',
        'E' => '\x1b',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        other => other,
    };
    Some((c, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> Vec<String> {
        let mut w = Warnings::default();
        let mut l = Lexer::new(&mut w);
        l.lex_text(text, Path::new("/nonexistent/k.conf")).unwrap();
        l.tokens
            .into_iter()
            .map(|t| match t.kind {
                TokenKind::Line { words, .. } => words
                    .into_iter()
                    .map(|(w, _)| w)
                    .collect::<Vec<_>>()
                    .join("|"),
                TokenKind::Open => "{".into(),
                TokenKind::Close => "}".into(),
            })
            .collect()
    }

    #[test]
    fn comments_quotes_braces() {
        assert_eq!(
            lex("a b { ! comment\n  c \"d # {e}\" f#g\n}"),
            vec!["a|b", "{", "c|d # {e}|f", "}"]
        );
        // Single quotes and backslashes are plain characters in words.
        assert_eq!(lex(r#"x 'c d' a\n \# e\"#), vec![r"x|'c|d'|a\n|#|e\"]);
        assert_eq!(
            lex("c{d}e\na\"b\"c"),
            vec!["c", "{", "d", "}", "e", "a|b|c"]
        );
    }

    #[test]
    fn escaped_words_for_scripts() {
        assert_eq!(
            escaped_words(r#"misc_path "/bin/check %h" 'a b' \x41\101\n"#).unwrap(),
            vec!["misc_path", "/bin/check %h", "a b", "AA\n"]
        );
        assert!(escaped_words("a \"b").is_none());
    }

    #[test]
    fn locations_and_errors() {
        let mut w = Warnings::default();
        let mut l = Lexer::new(&mut w);
        let e = l.lex_text("\n  a  \"b", Path::new("k.conf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.conf:2:6: unterminated quote: no closing \" on this line"
        );
        let mut l = Lexer::new(&mut w);
        l.lex_text("x\n   yy z {", Path::new("k.conf")).unwrap();
        let TokenKind::Line { words, .. } = &l.tokens[1].kind else {
            panic!()
        };
        assert_eq!((words[0].1.line, words[0].1.column), (2, 4));
        assert_eq!((words[1].1.line, words[1].1.column), (2, 7));
        assert_eq!((l.tokens[2].at.line, l.tokens[2].at.column), (2, 9));
        let mut l = Lexer::new(&mut w);
        let e = l
            .lex_text("$VIP=192.0.2.1", Path::new("k.conf"))
            .unwrap_err();
        assert_eq!(e.kind(), Some(ErrorKind::Unsupported));
    }
}
