//! Bytes to send or expect, written as a string or as hex.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes a probe sends or expects. Its serde form is a plain string (its
/// UTF-8 bytes; escapes such as `\r\n` are the file format's business) or
/// `{hex: "..."}` for any bytes (whitespace and `:` between digits are
/// ignored).
///
/// ```
/// use ipvs::health::probe::Payload;
/// let text: Payload = serde_json::from_str(r#""PING\r\n""#).unwrap();
/// let hex: Payload = serde_json::from_str(r#"{"hex": "50 49 4e 47 0d 0a"}"#).unwrap();
/// assert_eq!(text.as_bytes(), b"PING\r\n");
/// assert_eq!(text, hex);
/// assert_eq!(serde_json::to_string(&hex).unwrap(), r#"{"hex":"50494e470d0a"}"#);
/// ```
#[derive(Clone, Default)]
pub struct Payload {
    bytes: Vec<u8>,
    hex: bool,
}

impl Payload {
    /// The UTF-8 bytes of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Payload {
            bytes: text.into().into_bytes(),
            hex: false,
        }
    }

    /// Any bytes; written back as hex.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Payload {
            bytes: bytes.into(),
            hex: true,
        }
    }

    /// Bytes from hex digits (whitespace and `:` between them are ignored).
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        let digits: Vec<u8> = hex
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != b':')
            .collect();
        if digits.len() % 2 != 0 {
            return Err(format!("odd number of hex digits in {hex:?}"));
        }
        let value = |d: u8| match d {
            b'0'..=b'9' => Ok(d - b'0'),
            b'a'..=b'f' => Ok(d - b'a' + 10),
            b'A'..=b'F' => Ok(d - b'A' + 10),
            _ => Err(format!("{:?} is not a hex digit in {hex:?}", d as char)),
        };
        let bytes = digits
            .chunks(2)
            .map(|pair| Ok(value(pair[0])? << 4 | value(pair[1])?))
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(Payload::bytes(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes as text, if they were written as a string.
    pub fn as_text(&self) -> Option<&str> {
        if self.hex {
            None
        } else {
            std::str::from_utf8(&self.bytes).ok()
        }
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Payload {}

impl std::hash::Hash for Payload {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(text) => write!(f, "{text:?}"),
            None => write!(f, "hex:{}", self.to_hex()),
        }
    }
}

impl From<&str> for Payload {
    fn from(text: &str) -> Self {
        Payload::text(text)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_text() {
            Some(text) => serializer.serialize_str(text),
            None => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("hex", &self.to_hex())?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;

        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = Payload;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or {hex: \"...\"}")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
                Ok(Payload::text(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
                let mut payload = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "hex" {
                        return Err(de::Error::unknown_field(&key, &["hex"]));
                    }
                    if payload.is_some() {
                        return Err(de::Error::duplicate_field("hex"));
                    }
                    let hex: String = map.next_value()?;
                    payload = Some(Payload::from_hex(&hex).map_err(de::Error::custom)?);
                }
                payload.ok_or_else(|| de::Error::missing_field("hex"))
            }
        }

        deserializer.deserialize_any(PayloadVisitor)
    }
}
