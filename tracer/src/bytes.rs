//! Byte-exact strings: argv, executable paths, names and environment values are bytes on
//! Linux, not UTF-8. [`ByteString`] (owned) and [`ByteStr`] (borrowed) serialize them
//! losslessly the way Python's `surrogateescape` decodes them — each byte that is not part of
//! valid UTF-8 becomes the lone surrogate `\udcXX` — so `json.loads` gives exactly the `str`
//! psutil returns for the same bytes, and `os.fsencode` the original bytes. Deserializing reads
//! such a string back to the same bytes.
//!
//! JSON cannot carry a lone surrogate in a Rust `str`, so a string that is not UTF-8 is
//! serialized as a pre-escaped [`RawValue`]: only `serde_json` (through
//! `crate::render::json`) writes it as text; valid UTF-8, the common case, is a plain string
//! for every serializer.

use std::borrow::Borrow;
use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::value::RawValue;

/// A borrowed byte-exact string, for serializing what is held as `OsStr` or `[u8]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteStr<'a>(pub &'a [u8]);

impl<'a> ByteStr<'a> {
    /// The bytes of an OS string.
    pub fn os(value: &'a OsStr) -> Self {
        ByteStr(value.as_encoded_bytes())
    }
}

impl<'a> From<&'a OsStr> for ByteStr<'a> {
    fn from(value: &'a OsStr) -> Self {
        ByteStr::os(value)
    }
}

impl<'a> From<&'a OsString> for ByteStr<'a> {
    fn from(value: &'a OsString) -> Self {
        ByteStr::os(value)
    }
}

impl Serialize for ByteStr<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                let literal = surrogate_escaped_literal(self.0);
                let raw = RawValue::from_string(literal).map_err(S::Error::custom)?;
                raw.serialize(serializer)
            }
        }
    }
}

/// An owned byte-exact string: an `OsString` that serializes losslessly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteString(pub OsString);

impl ByteString {
    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_encoded_bytes()
    }

    /// The `OsString` inside.
    pub fn into_os_string(self) -> OsString {
        self.0
    }
}

impl Deref for ByteString {
    type Target = OsStr;

    fn deref(&self) -> &OsStr {
        &self.0
    }
}

impl AsRef<OsStr> for ByteString {
    fn as_ref(&self) -> &OsStr {
        &self.0
    }
}

impl Borrow<OsStr> for ByteString {
    fn borrow(&self) -> &OsStr {
        &self.0
    }
}

impl From<OsString> for ByteString {
    fn from(value: OsString) -> Self {
        ByteString(value)
    }
}

impl From<&OsStr> for ByteString {
    fn from(value: &OsStr) -> Self {
        ByteString(value.to_owned())
    }
}

impl From<&str> for ByteString {
    fn from(value: &str) -> Self {
        ByteString(value.into())
    }
}

impl From<ByteString> for OsString {
    fn from(value: ByteString) -> Self {
        value.0
    }
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ByteStr::os(&self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde_json gives a string with lone surrogates to `deserialize_bytes` as WTF-8;
        // other formats give a `str` or bytes, taken as they are.
        deserializer.deserialize_bytes(ByteStringVisitor)
    }
}

struct ByteStringVisitor;

impl<'de> Visitor<'de> for ByteStringVisitor {
    type Value = ByteString;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<ByteString, E> {
        Ok(ByteString(value.into()))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<ByteString, E> {
        Ok(ByteString(os_string_from_bytes(unwtf8(value))))
    }

    fn visit_byte_buf<E: de::Error>(self, value: Vec<u8>) -> Result<ByteString, E> {
        self.visit_bytes(&value)
    }
}

/// The bytes as one JSON string literal, quotes included: valid UTF-8 escaped as JSON needs,
/// each byte of an invalid sequence as `\udcXX`.
fn surrogate_escaped_literal(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    out.push('"');
    while !bytes.is_empty() {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(valid) => (valid, &[][..]),
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                let valid = std::str::from_utf8(valid).expect("valid_up_to bounds valid UTF-8");
                (valid, rest)
            }
        };
        crate::render::json::escape_str_into(&mut out, valid);
        if rest.is_empty() {
            break;
        }
        let invalid = std::str::from_utf8(rest)
            .err()
            .and_then(|error| error.error_len())
            .unwrap_or(rest.len());
        for &byte in &rest[..invalid] {
            let _ = write!(out, "\\udc{byte:02x}");
        }
        bytes = &rest[invalid..];
    }
    out.push('"');
    out
}

/// WTF-8 (what serde_json makes of `\udcXX` escapes when asked for bytes) back to the bytes
/// Python's surrogateescape meant: the three-byte encoding of U+DC80..U+DCFF is the byte
/// 0x80..0xFF. Everything else is kept as it is.
fn unwtf8(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_escape = |w: &[u8]| w[0] == 0xED && (0xB2..=0xB3).contains(&w[1]) && w[2] & 0xC0 == 0x80;
    if !bytes.windows(3).any(is_escape) {
        return bytes.into();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 3 <= bytes.len() && is_escape(&bytes[i..i + 3]) {
            // U+DC80..U+DCFF is ED B2 80..ED B3 BF: the low bits of the last two bytes are
            // the escaped byte 0x80..0xFF.
            out.push(((bytes[i + 1] & 0x03) << 6) | (bytes[i + 2] & 0x3F));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out.into()
}

#[cfg(unix)]
fn os_string_from_bytes(bytes: std::borrow::Cow<'_, [u8]>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes.into_owned())
}

#[cfg(not(unix))]
fn os_string_from_bytes(bytes: std::borrow::Cow<'_, [u8]>) -> OsString {
    // Windows' OsString holds WTF-8; a string that came from JSON is at worst lossy there.
    String::from_utf8_lossy(&bytes).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_surrogate_escaped_like_python() {
        let text = crate::render::json::to_string(&ByteStr(b"caf\xc3\xa9 \xff\xfe\"\n\x01"));
        assert_eq!(text, r#""café \udcff\udcfe\"\n\u0001""#);
    }

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8)
            .chain(b"\xc3\xa9\xe2\x82".iter().copied())
            .collect();
        let original = ByteString(os_string_from_bytes(all.into()));
        let text = crate::render::json::to_string(&original);
        let back: ByteString = serde_json::from_str(&text).expect("our own literal parses");
        assert_eq!(back, original);
    }

    #[test]
    fn valid_utf8_is_a_plain_string() {
        let value = serde_json::to_value(ByteString::from("ls -l")).expect("plain string");
        assert_eq!(value, serde_json::json!("ls -l"));
    }
}
