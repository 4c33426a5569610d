//! keepalived.conf's lexical rules, as keepalived 2.2 reads a file: a line
//! is a statement; `!` and `#` start a comment outside double quotes; a
//! backslash at the end of a line continues it; `{` and `}` stand alone
//! wherever they are (outside quotes); words are split on blanks, with
//! `"..."` and `'...'` grouping and backslash escapes (`\n`, `\t`, `\x41`,
//! `\101`, `\cA`, `\"`...) anywhere. A line starting with `include` reads
//! the files its glob matches (relative to the including file's
//! directory) in its place; an include cycle is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::glob;
use crate::import::{ErrorKind, ImportError, Location, WarningKind, Warnings};

/// What the lexer gives the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A word, quotes removed and escapes resolved.
    Word(String),
    /// `{`
    Open,
    /// `}`
    Close,
    /// The end of a statement (a line, or the text before a brace).
    End,
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
        let mut logical: Vec<Ch> = Vec::new();
        for (n, raw) in text.split('\n').enumerate() {
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            logical.extend(raw.chars().enumerate().map(|(i, c)| Ch {
                c,
                line,
                column: u32::try_from(i + 1).unwrap_or(u32::MAX),
            }));
            if decomment(&mut logical) {
                // A backslash at the end: the next line continues this one.
                continue;
            }
            let chars = std::mem::take(&mut logical);
            self.logical_line(&chars, &file, path)?;
        }
        if !logical.is_empty() {
            let chars = std::mem::take(&mut logical);
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
            return self.include(rest.trim(), &at(&chars[0]), path);
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
        self.words(chars, file)
    }

    /// Split a decommented logical line into words and braces.
    fn words(&mut self, chars: &[Ch], file: &Arc<Path>) -> Result<(), ImportError> {
        let at = |c: &Ch| Location::new(file.clone(), c.line, c.column);
        let mut i = 0;
        let mut pending_end = false;
        while i < chars.len() {
            let c = chars[i];
            if is_blank(c.c) {
                i += 1;
                continue;
            }
            if c.c == '{' || c.c == '}' {
                if pending_end {
                    self.push(TokenKind::End, at(&c));
                    pending_end = false;
                }
                let kind = if c.c == '{' {
                    TokenKind::Open
                } else {
                    TokenKind::Close
                };
                self.push(kind, at(&c));
                i += 1;
                continue;
            }
            // A word.
            let start = at(&c);
            let mut word = String::new();
            let mut quote: Option<(char, Location)> = None;
            while i < chars.len() {
                let ch = chars[i].c;
                match (quote.as_ref(), ch) {
                    (_, '\\') => {
                        let (value, used) = escape(&chars[i + 1..]).ok_or_else(|| {
                            ImportError::at(
                                &at(&chars[i]),
                                ErrorKind::Syntax,
                                "a backslash with nothing after it",
                            )
                        })?;
                        word.push(value);
                        i += 1 + used;
                        continue;
                    }
                    (Some((q, _)), _) if ch == *q => quote = None,
                    (Some(_), _) => word.push(ch),
                    (None, '"' | '\'') => quote = Some((ch, at(&chars[i]))),
                    (None, _) if is_blank(ch) || ch == '{' || ch == '}' => break,
                    (None, _) => word.push(ch),
                }
                i += 1;
            }
            if let Some((q, where_)) = quote {
                return Err(ImportError::at(
                    &where_,
                    ErrorKind::Syntax,
                    format!("unterminated quote: no closing {q} on this line"),
                ));
            }
            self.push(TokenKind::Word(word), start);
            pending_end = true;
        }
        if pending_end {
            let last = chars.last().expect("a word was read");
            self.push(TokenKind::End, at(last));
        }
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
        let pattern = unquote(pattern);
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

/// A quoted include pattern, unquoted.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_owned()
    } else {
        s.to_owned()
    }
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

/// Remove a comment (`!` or `#` outside double quotes, not escaped) from
/// a logical line, as keepalived's `decomment` does: `\#` and `\!` outside
/// quotes become plain `#` and `!`. Returns whether the line ends in a
/// backslash (continued on the next line), which is then removed.
fn decomment(chars: &mut Vec<Ch>) -> bool {
    let mut quote = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i].c {
            '"' => quote = !quote,
            '\\' => {
                if i + 1 == chars.len() {
                    chars.pop();
                    return true;
                }
                if !quote && matches!(chars[i + 1].c, '#' | '!') {
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
    false
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

    fn lex(text: &str) -> Vec<TokenKind> {
        let mut w = Warnings::default();
        let mut l = Lexer::new(&mut w);
        l.lex_text(text, Path::new("/nonexistent/k.conf")).unwrap();
        l.tokens.into_iter().map(|t| t.kind).collect()
    }

    fn word(s: &str) -> TokenKind {
        TokenKind::Word(s.into())
    }

    #[test]
    fn comments_quotes_braces_escapes() {
        use TokenKind::*;
        assert_eq!(
            lex("a b { ! comment\n  c \"d # e\" f#g\n}"),
            vec![
                word("a"),
                word("b"),
                End,
                Open,
                word("c"),
                word("d # e"),
                word("f"),
                End,
                Close
            ]
        );
        assert_eq!(
            lex(r#"x "a\"b" 'c d' \x41\101\n \#"#),
            vec![
                word("x"),
                word("a\"b"),
                word("c d"),
                word("AA\n"),
                word("#"),
                End
            ]
        );
        assert_eq!(
            lex("a \\\n b\nc{d}e"),
            vec![
                word("a"),
                word("b"),
                End,
                word("c"),
                End,
                Open,
                word("d"),
                End,
                Close,
                word("e"),
                End
            ]
        );
    }

    #[test]
    fn locations_and_errors() {
        let mut w = Warnings::default();
        let mut l = Lexer::new(&mut w);
        l.lex_text("\n  real_server  \"192.0.2.1", Path::new("k.conf"))
            .unwrap_err();
        let mut l = Lexer::new(&mut w);
        let e = l.lex_text("\n  a  \"b", Path::new("k.conf")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.conf:2:6: unterminated quote: no closing \" on this line"
        );
        let mut l = Lexer::new(&mut w);
        l.lex_text("x\n   yy z", Path::new("k.conf")).unwrap();
        assert_eq!((l.tokens[2].at.line, l.tokens[2].at.column), (2, 4));
        assert_eq!((l.tokens[3].at.line, l.tokens[3].at.column), (2, 7));
        let mut l = Lexer::new(&mut w);
        let e = l
            .lex_text("$VIP=192.0.2.1", Path::new("k.conf"))
            .unwrap_err();
        assert_eq!(e.kind(), Some(ErrorKind::Unsupported));
    }
}
