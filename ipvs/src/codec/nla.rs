//! Small helpers for reading and writing attribute payloads.

use netlink_packet_core::{DecodeError, DefaultNla, Emitable, NlaBuffer, NlasIterator, Parseable};

/// The payload as exactly `N` bytes.
#[inline(always)]
pub(crate) fn exact<const N: usize>(what: &str, value: &[u8]) -> Result<[u8; N], DecodeError> {
    match value.try_into() {
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(wrong_length(what, N, value.len())),
    }
}

/// The error of a value of the wrong length, made out of line: the
/// readers' fast path stays small.
#[cold]
#[inline(never)]
fn wrong_length(what: &str, expected: usize, got: usize) -> DecodeError {
    DecodeError::from(format!("{what}: expected {expected} bytes, got {got}"))
}

#[inline(always)]
pub(crate) fn u8_of(what: &str, v: &[u8]) -> Result<u8, DecodeError> {
    Ok(exact::<1>(what, v)?[0])
}

#[inline(always)]
pub(crate) fn u16_of(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(exact(what, v)?))
}

#[inline(always)]
pub(crate) fn be16_of(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(exact(what, v)?))
}

#[inline(always)]
pub(crate) fn u32_of(what: &str, v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(exact(what, v)?))
}

/// A counter that is 32 or 64 bits wide depending on where it stands.
pub(crate) fn counter_of(what: &str, v: &[u8]) -> Result<u64, DecodeError> {
    match v.len() {
        4 => Ok(u32_of(what, v)?.into()),
        _ => Ok(u64::from_ne_bytes(exact(what, v)?)),
    }
}

/// A NUL-terminated (or unterminated) string, up to its first NUL.
pub(crate) fn string_of(what: &str, v: &[u8]) -> Result<String, DecodeError> {
    str_of(what, v).map(str::to_owned)
}

/// A NUL-terminated (or unterminated) UTF-8 string, borrowed.
pub(crate) fn str_of<'v>(what: &str, v: &'v [u8]) -> Result<&'v str, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    std::str::from_utf8(&v[..end]).map_err(|e| DecodeError::from(format!("{what}: not UTF-8: {e}")))
}

/// Write `s` followed by a NUL.
pub(crate) fn emit_string(buf: &mut [u8], s: &str) {
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
}

/// Parse every attribute of a nested payload with `parse`.
pub(crate) fn parse_nested<T>(
    payload: &[u8],
    parse: impl Fn(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| parse(&nla)))
        .collect()
}

/// Keep an attribute this crate does not know, flags and all.
pub(crate) fn other(nla: &NlaBuffer<&[u8]>) -> Result<DefaultNla, DecodeError> {
    DefaultNla::parse(nla)
}

/// The emitted length of a list of attributes.
pub(crate) fn nested_len<T: netlink_packet_core::Emitable>(attrs: &[T]) -> usize {
    attrs.iter().map(|a| a.buffer_len()).sum()
}

/// Emit a list of attributes back to back.
pub(crate) fn emit_nested<T: netlink_packet_core::Nla>(attrs: &[T], buf: &mut [u8]) {
    let mut at = 0;
    for a in attrs {
        let len = a.buffer_len();
        emit_one(a, &mut buf[at..at + len]);
        at += len;
    }
}

/// Emit one attribute into `buf` (exactly its `buffer_len()` bytes).
///
/// Not netlink-packet-core's `emit`, which drops `NLA_F_NET_BYTEORDER` when
/// `NLA_F_NESTED` is also set (changing unknown attributes kept as
/// `DefaultNla` with both flags), and panics on a value longer than the
/// 16-bit length field can say. Here the type is written exactly as `kind()`
/// says, and an oversized value (only from unvalidated names or hand-built
/// messages) gets a saturated length, which the receiver rejects.
pub(crate) fn emit_one<T: netlink_packet_core::Nla>(a: &T, buf: &mut [u8]) {
    let value_len = a.value_len();
    let len = u16::try_from(value_len + 4).unwrap_or(u16::MAX);
    buf[..2].copy_from_slice(&len.to_ne_bytes());
    buf[2..4].copy_from_slice(&a.kind().to_ne_bytes());
    a.emit_value(&mut buf[4..4 + value_len]);
    buf[4 + value_len..].fill(0);
}

/// Hand every attribute of `payload` to `take`, kind and value, one
/// after the other ([`attrs`]); the first malformed one is the error.
#[inline(always)]
pub(crate) fn walk(
    payload: &[u8],
    mut take: impl FnMut(u16, &[u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    for a in attrs(payload) {
        let (kind, value) = a?;
        take(kind, value)?;
    }
    Ok(())
}

/// The attributes of a payload read in place, each as its type (flags
/// cleared) and value: what `NlasIterator` finds, without building buffers.
/// Stops after the first malformed one.
///
/// ```ignore
/// let buf = [8, 0, 2, 0, 1, 2, 3, 4];
/// assert_eq!(attrs(&buf).next().unwrap().unwrap(), (2, &[1, 2, 3, 4][..]));
/// ```
pub(crate) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

/// The iterator of [`attrs`].
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        if let [l0, l1, k0, k1, ..] = *rest {
            let len = usize::from(u16::from_ne_bytes([l0, l1]));
            if len >= 4 && len <= rest.len() {
                let kind = u16::from_ne_bytes([k0, k1]) & netlink_packet_core::NLA_TYPE_MASK;
                self.rest = rest.get((len + 3) & !3..).unwrap_or_default();
                return Some(Ok((kind, &rest[4..len])));
            }
        }
        self.rest = &[];
        Some(Err(malformed(rest)))
    }
}

/// Why the attribute at the start of `rest` cannot be read.
#[cold]
#[inline(never)]
fn malformed(rest: &[u8]) -> DecodeError {
    match rest {
        [l0, l1, _, _, ..] => DecodeError::from(format!(
            "attribute length {} with {} bytes left",
            u16::from_ne_bytes([*l0, *l1]),
            rest.len()
        )),
        _ => DecodeError::from("attribute header cut short"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_are_what_nlas_iterator_finds() {
        // Two attributes (the first padded), then a third cut short.
        let buf = [
            6, 0, 0x02, 0x80, 1, 2, 0, 0, 8, 0, 3, 0, 9, 9, 9, 9, 8, 0, 1,
        ];
        let ours: Vec<_> = attrs(&buf).collect();
        let theirs: Vec<_> = NlasIterator::new(&buf[..]).collect();
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(&theirs) {
            match (o, t) {
                (Ok((kind, value)), Ok(nla)) => {
                    assert_eq!((*kind, *value), (nla.kind(), nla.value()));
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{o:?} / {t:?}"),
            }
        }
        assert_eq!(ours[0].as_ref().unwrap(), &(2, &[1, 2][..]));
        assert!(ours[2].is_err());
    }
}
