//! The file globs of keepalived's `include` (glob(3) with `GLOB_BRACE`):
//! `*`, `?`, `[...]` (with `!` or `^` to negate, and ranges), `{a,b}`, and
//! backslash escapes. Wildcards do not match a leading `.` nor a `/`.
//! Matches are files, sorted within each brace alternative, as glob(3)
//! sorts them.

use std::io;
use std::path::{Path, PathBuf};

/// Most paths one pattern may expand to (braces multiply).
const MAX_ALTERNATIVES: usize = 1024;

/// Whether `pattern` has a wildcard or a brace (so that matching nothing
/// is not an error).
pub(crate) fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// The files `pattern` matches.
pub(crate) fn expand(pattern: &str) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for alt in braces(pattern)? {
        let mut found = Vec::new();
        let (root, rest) = match alt.strip_prefix('/') {
            Some(rest) => (PathBuf::from("/"), rest.to_owned()),
            None => (PathBuf::new(), alt.clone()),
        };
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        walk(&root, &parts, &mut found)?;
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn walk(dir: &Path, parts: &[&str], out: &mut Vec<PathBuf>) -> io::Result<()> {
    let Some((first, rest)) = parts.split_first() else {
        if dir.is_file() {
            out.push(dir.to_owned());
        }
        return Ok(());
    };
    if !has_wildcards(first) {
        let next = dir.join(unescape(first));
        if rest.is_empty() || next.is_dir() {
            walk(&next, rest, out)?;
        }
        return Ok(());
    }
    let listing = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(listing) else {
        return Ok(());
    };
    let pat: Vec<char> = first.chars().collect();
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') || first.starts_with('.'))
        .filter(|n| matches(&pat, &n.chars().collect::<Vec<_>>()))
        .collect();
    names.sort();
    for name in names {
        walk(&dir.join(name), rest, out)?;
    }
    Ok(())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Brace alternatives: `a{b,c}d` is `abd`, `acd`; nested braces too.
fn braces(pattern: &str) -> io::Result<Vec<String>> {
    let chars: Vec<char> = pattern.chars().collect();
    // The first top-level `{` with its matching `}` and the commas between.
    let mut depth = 0;
    let mut open = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let start = open.expect("an open brace");
                    let prefix: String = chars[..start].iter().collect();
                    let suffix: String = chars[i + 1..].iter().collect();
                    let mut bounds = vec![start];
                    bounds.extend(&commas);
                    bounds.push(i);
                    let mut out = Vec::new();
                    for w in bounds.windows(2) {
                        let middle: String = chars[w[0] + 1..w[1]].iter().collect();
                        for alt in braces(&format!("{prefix}{middle}{suffix}"))? {
                            out.push(alt);
                            if out.len() > MAX_ALTERNATIVES {
                                return Err(io::Error::other(format!(
                                    "more than {MAX_ALTERNATIVES} brace alternatives"
                                )));
                            }
                        }
                    }
                    return Ok(out);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(vec![pattern.to_owned()])
}

/// Whether `name` matches the wildcard pattern `pat` (one path component).
fn matches(pat: &[char], name: &[char]) -> bool {
    // Iterative matching with backtracking on the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = if p < pat.len() {
            match pat[p] {
                '*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                '?' => Some(p + 1),
                '[' => class(pat, p, name[n]),
                '\\' if p + 1 < pat.len() => (pat[p + 1] == name[n]).then_some(p + 2),
                c => (c == name[n]).then_some(p + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                p = next;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == '*')
}

/// A `[...]` class at `pat[p]` against `c`: the pattern index after the
/// class if it matches. An unterminated `[` matches itself.
fn class(pat: &[char], p: usize, c: char) -> Option<usize> {
    let mut i = p + 1;
    let negate = matches!(pat.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let ch = *pat.get(i)?;
        if ch == ']' && !first {
            break;
        }
        first = false;
        if pat.get(i + 1) == Some(&'-') && pat.get(i + 2).is_some_and(|&e| e != ']') {
            if (ch..=pat[i + 2]).contains(&c) {
                hit = true;
            }
            i += 3;
        } else {
            if ch == c {
                hit = true;
            }
            i += 1;
        }
    }
    (hit != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn wildcards() {
        assert!(m("*.conf", "a.conf"));
        assert!(!m("*.conf", "a.conf~"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("*a*b", "xxaxxb"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert_eq!(braces("a{b,c{d,e}}f").unwrap(), vec!["abf", "acdf", "acef"]);
    }

    #[test]
    fn expands_files_sorted() {
        let dir = std::env::temp_dir().join(format!("ipvs-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["b.conf", "a.conf", ".hidden.conf", "sub/c.conf", "x.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let d = dir.to_string_lossy();
        let got = expand(&format!("{d}/*.conf")).unwrap();
        assert_eq!(got, vec![dir.join("a.conf"), dir.join("b.conf")]);
        let got = expand(&format!("{d}/{{sub/*,x}}.{{conf,txt}}")).unwrap();
        assert_eq!(got, vec![dir.join("sub/c.conf"), dir.join("x.txt")]);
        assert!(expand(&format!("{d}/none")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
