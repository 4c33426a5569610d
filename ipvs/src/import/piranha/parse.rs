//! lvs.cf's syntax, as Piranha's parser reads it: `key = value` lines,
//! `virtual NAME {`, `server NAME {` and `failover NAME {` blocks closed by
//! `}`, `#` comments, and double-quoted strings with the escapes `\r`,
//! `\n`, `\t`, `\\` and `\"`.

use std::path::Path;
use std::sync::Arc;

use crate::import::{ErrorKind, ImportError, Located, Location};

/// One `key = value...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, where it is.
    pub key: Located<String>,
    /// The words after `=` (a quoted string is one word, unquoted).
    pub values: Vec<Located<String>>,
}

/// A `virtual`, `server` or `failover` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `virtual`, `server` or `failover`, where it is.
    pub kind: Located<String>,
    /// Its name.
    pub name: Located<String>,
    /// Its entries.
    pub entries: Vec<Entry>,
    /// Its blocks (a virtual's servers).
    pub blocks: Vec<Block>,
}

/// A whole file: the top-level entries and blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// The global entries.
    pub entries: Vec<Entry>,
    /// The blocks.
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Equals,
    Open,
    Close,
}

/// Most nested blocks (a virtual holding servers is two).
const MAX_DEPTH: usize = 8;

/// Parse `text`, named `path` in locations.
pub(crate) fn parse_tree(text: &str, path: &Path) -> Result<Tree, ImportError> {
    let file: Arc<Path> = Arc::from(path);
    let mut stack: Vec<Block> = Vec::new();
    let mut tree = Tree::default();
    let mut last_line = 1;
    for (n, raw) in text.split('\n').enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        last_line = line;
        let toks = tokens(raw, &file, line)?;
        if toks.is_empty() {
            continue;
        }
        let at0 = toks[0].1.clone();
        match toks.as_slice() {
            [(Tok::Close, _)] => {
                let done = stack.pop().ok_or_else(|| {
                    ImportError::at(&at0, ErrorKind::Syntax, "'}' with no block to close")
                })?;
                match stack.last_mut() {
                    Some(parent) => parent.blocks.push(done),
                    None => tree.blocks.push(done),
                }
            }
            [
                (Tok::Word(kind), kat),
                (Tok::Word(name) | Tok::Quoted(name), nat),
                (Tok::Open, _),
            ] => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ImportError::at(
                        kat,
                        ErrorKind::Syntax,
                        "blocks nested too deep",
                    ));
                }
                stack.push(Block {
                    kind: Located::new(kind.clone(), kat.clone()),
                    name: Located::new(name.clone(), nat.clone()),
                    entries: Vec::new(),
                    blocks: Vec::new(),
                });
            }
            [(Tok::Word(key), kat), (Tok::Equals, _), rest @ ..] => {
                let mut values = Vec::new();
                for (t, at) in rest {
                    match t {
                        Tok::Word(v) | Tok::Quoted(v) => {
                            values.push(Located::new(v.clone(), at.clone()))
                        }
                        _ => {
                            return Err(ImportError::at(
                                at,
                                ErrorKind::Syntax,
                                format!("{key}: a value cannot hold '=', '{{' or '}}' unquoted"),
                            ));
                        }
                    }
                }
                let entry = Entry {
                    key: Located::new(key.clone(), kat.clone()),
                    values,
                };
                match stack.last_mut() {
                    Some(b) => b.entries.push(entry),
                    None => tree.entries.push(entry),
                }
            }
            _ => {
                return Err(ImportError::at(
                    &at0,
                    ErrorKind::Syntax,
                    "expected `key = value`, `virtual NAME {`, `server NAME {`, `failover NAME {` or `}`",
                ));
            }
        }
    }
    if let Some(open) = stack.last() {
        let _ = last_line;
        return Err(ImportError::at(
            &open.kind.at,
            ErrorKind::Syntax,
            format!("{} {} {{ is never closed", open.kind.value, open.name.value),
        ));
    }
    Ok(tree)
}

/// The tokens of one line, comments removed.
fn tokens(raw: &str, file: &Arc<Path>, line: u32) -> Result<Vec<(Tok, Location)>, ImportError> {
    let chars: Vec<char> = raw.strip_suffix('\r').unwrap_or(raw).chars().collect();
    let at = |i: usize| Location::new(file.clone(), line, u32::try_from(i + 1).unwrap_or(u32::MAX));
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '#' => break,
            '=' => {
                out.push((Tok::Equals, at(i)));
                i += 1;
            }
            '{' => {
                out.push((Tok::Open, at(i)));
                i += 1;
            }
            '}' => {
                out.push((Tok::Close, at(i)));
                i += 1;
            }
            '"' => {
                let start = i;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(ImportError::at(
                            &at(start),
                            ErrorKind::Syntax,
                            "unterminated quote: no closing \" on this line",
                        ));
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied();
                            s.push(match e {
                                Some('r') => '\r',
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('\\') => '\\',
                                Some('"') => '"',
                                _ => {
                                    return Err(ImportError::at(
                                        &at(i - 1),
                                        ErrorKind::Syntax,
                                        "unknown escape in a quoted string (known: \\r \\n \\t \\\\ \\\")",
                                    ));
                                }
                            });
                            i += 1;
                        }
                        other => s.push(other),
                    }
                }
                out.push((Tok::Quoted(s), at(start)));
            }
            _ => {
                let start = i;
                let mut s = String::new();
                while i < chars.len()
                    && !matches!(chars[i], ' ' | '\t' | '=' | '{' | '}' | '"' | '#')
                {
                    s.push(chars[i]);
                    i += 1;
                }
                out.push((Tok::Word(s), at(start)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_and_errors() {
        let t = parse_tree(
            "a = 1\nvirtual web {\n  send = \"GET /\\r\\n\" # c\n  server s1 {\n   address = 192.0.2.1\n  }\n}\n",
            Path::new("lvs.cf"),
        )
        .unwrap();
        assert_eq!(t.entries[0].key.value, "a");
        let v = &t.blocks[0];
        assert_eq!(v.name.value, "web");
        assert_eq!(v.entries[0].values[0].value, "GET /\r\n");
        assert_eq!(v.blocks[0].entries[0].values[0].at.column, 14);
        let e = parse_tree("virtual web {\n", Path::new("lvs.cf")).unwrap_err();
        assert_eq!(e.to_string(), "lvs.cf:1:1: virtual web { is never closed");
        let e = parse_tree("x = \"a\\q\"", Path::new("lvs.cf")).unwrap_err();
        assert_eq!(e.location().unwrap().column, 7);
        assert!(parse_tree("}", Path::new("lvs.cf")).is_err());
        assert!(parse_tree("junk", Path::new("lvs.cf")).is_err());
    }
}
