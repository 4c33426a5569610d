//! keepalived.conf's syntax tree: statements (a keyword and its words),
//! each optionally followed by a `{ ... }` block of statements, every word
//! with its place in its file.

use std::path::Path;

use super::lexer::{Lexer, Token, TokenKind};
use crate::import::{ErrorKind, ImportError, Location, Warnings};

/// A word of a statement, quotes removed and escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text.
    pub text: String,
    /// Where it starts.
    pub at: Location,
}

/// A statement: a keyword, its arguments, and its block if one follows.
///
/// ```text
/// real_server 192.0.2.21 80 {     <- words: real_server, 192.0.2.21, 80
///     weight 3                    <- a statement of the block
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The keyword first, then its arguments (never empty).
    pub words: Vec<Word>,
    /// The block after it, if any.
    pub block: Option<Vec<Statement>>,
    /// The statement's text as written, comments removed: keepalived
    /// re-reads a few keys (`misc_path`, scripts, `regex`) with quotes and
    /// escapes ([`Statement::escaped_args`]).
    pub text: String,
}

impl Statement {
    /// The keyword.
    pub fn key(&self) -> &str {
        &self.words[0].text
    }

    /// Where the keyword is.
    pub fn at(&self) -> &Location {
        &self.words[0].at
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[Word] {
        &self.words[1..]
    }

    /// The words after the keyword as keepalived reads script and regex
    /// keys: `"..."` and `'...'` group anywhere, backslash escapes
    /// (`\n`, `\x41`, `\"`...) resolved. `None` for an unterminated quote.
    pub fn escaped_args(&self) -> Option<Vec<String>> {
        let mut words = super::lexer::escaped_words(&self.text)?;
        if words.is_empty() {
            return None;
        }
        words.remove(0);
        Some(words)
    }

    /// The statements of its block (none if it has no block).
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Deepest block nesting accepted.
const MAX_DEPTH: usize = 64;

/// Parse `text` (read from, or named as, `path`), following its includes.
pub(crate) fn parse_text(
    text: &str,
    path: &Path,
    warnings: &mut Warnings,
) -> Result<Vec<Statement>, ImportError> {
    let mut lexer = Lexer::new(warnings);
    lexer.lex_text(text, path)?;
    let tokens = std::mem::take(&mut lexer.tokens);
    let mut pos = 0;
    let statements = block(&tokens, &mut pos, None, 0)?;
    Ok(statements)
}

/// Statements until the `}` closing the block opened at `open` (or the end
/// of the input at top level).
fn block(
    tokens: &[Token],
    pos: &mut usize,
    open: Option<&Location>,
    depth: usize,
) -> Result<Vec<Statement>, ImportError> {
    if depth > MAX_DEPTH {
        let at = open.expect("nested blocks have an opening brace");
        return Err(ImportError::at(
            at,
            ErrorKind::Syntax,
            format!("blocks nested more than {MAX_DEPTH} deep"),
        ));
    }
    let mut out: Vec<Statement> = Vec::new();
    while let Some(t) = tokens.get(*pos) {
        *pos += 1;
        match &t.kind {
            TokenKind::Line { words, raw } => out.push(Statement {
                words: words
                    .iter()
                    .map(|(text, at)| Word {
                        text: text.clone(),
                        at: at.clone(),
                    })
                    .collect(),
                block: None,
                text: raw.clone(),
            }),
            TokenKind::Open => {
                // The block belongs to the statement before it (on the same
                // line or an earlier one).
                let owner = match out.last_mut() {
                    Some(s) if s.block.is_none() => s,
                    _ => {
                        return Err(ImportError::at(
                            &t.at,
                            ErrorKind::Syntax,
                            "'{' with no keyword before it",
                        ));
                    }
                };
                let inner = block(tokens, pos, Some(&t.at), depth + 1)?;
                owner.block = Some(inner);
            }
            TokenKind::Close => {
                if open.is_none() {
                    return Err(ImportError::at(
                        &t.at,
                        ErrorKind::Syntax,
                        "'}' with no block to close",
                    ));
                }
                return Ok(out);
            }
        }
    }
    if let Some(at) = open {
        return Err(ImportError::at(
            at,
            ErrorKind::Syntax,
            "this '{' is never closed",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Statement>, ImportError> {
        parse_text(text, Path::new("t.conf"), &mut Warnings::default())
    }

    #[test]
    fn blocks() {
        let s = parse("a 1 {\n b 2\n c\n {\n d\n }\n}\ne").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key(), "a");
        assert_eq!(s[0].args()[0].text, "1");
        assert_eq!(s[0].children().len(), 2);
        assert_eq!(s[0].children()[1].children()[0].key(), "d");
        assert_eq!(s[1].key(), "e");
    }

    #[test]
    fn errors_name_the_place() {
        assert_eq!(
            parse("a {\n b\n").unwrap_err().to_string(),
            "t.conf:1:3: this '{' is never closed"
        );
        assert_eq!(
            parse("a\n}\n").unwrap_err().to_string(),
            "t.conf:2:1: '}' with no block to close"
        );
        assert_eq!(
            parse("{ a }").unwrap_err().to_string(),
            "t.conf:1:1: '{' with no keyword before it"
        );
    }
}
