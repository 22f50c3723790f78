//! JSON output of every typed value, through serde. One [`serde_json::ser::Formatter`] keeps
//! the contract's exact text: floats as Rust's shortest round-trip form (`1e-5`, `0.25`,
//! `1.0`), non-finite floats as `null`, control characters (and DEL) escaped as `\u00XX`
//! except `\n`, `\r`, `\t`; strings that are not UTF-8 come pre-escaped from
//! [`crate::bytes`].
//!
//! Beside it, the hot paths' hand-written primitives (`int`, `float`, `string`): the
//! same bytes, written without serde for the event lines and the ps rows (measured 3–4×
//! faster there; see [`crate::render::event_line`]), each handing what is unusual to the
//! serde path here so that the two cannot drift; property tests hold them equal.

use std::fmt::Write as _;
use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// The contract's formatting on top of serde_json's compact output.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContractFormatter;

impl Formatter for ContractFormatter {
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        // serde_json writes non-finite values as null before calling this.
        write!(writer, "{value:?}")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json leaves DEL alone; the contract escapes it like the other controls. Most
        // fragments (a name, an argument, a key) hold none: one byte scan, one copy.
        if !fragment.as_bytes().contains(&0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.find('\u{7f}') {
            writer.write_all(&rest.as_bytes()[..at])?;
            writer.write_all(b"\\u007f")?;
            rest = &rest[at + 1..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::AsciiControl(byte) => {
                return write!(writer, "\\u{:04x}", byte);
            }
        };
        writer.write_all(text)
    }
}

/// Appends `value` as JSON to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mut serializer = serde_json::Serializer::with_formatter(out, ContractFormatter);
    // Writing into a Vec cannot fail; our types' Serialize impls do not fail either (a map's
    // keys are strings): an error here is a bug in a Serialize impl.
    value
        .serialize(&mut serializer)
        .expect("serializing into memory cannot fail");
}

/// `value` as JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write(&mut out, value);
    out
}

/// `value` as a JSON string.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    String::from_utf8(to_vec(value)).expect("serde_json writes UTF-8")
}

// The hot paths' primitives (event lines, rows): the same bytes as the serde path above,
// written without it; see `render::event_line` for the measurement that justifies them.

/// An integer, as serde_json writes it.
pub(crate) fn int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A float as the contract writes it (Rust's shortest round-trip form, `null` when not
/// finite). Between 1e-4 and 2^52, where that form is plain decimals, ryu writes the same
/// digits, except on an exact tie between two shortest candidates (ryu rounds to even, Rust
/// up): the exact value then has one fractional digit more than the shortest form, which the
/// float's binary exponent tells. Ties, and everything outside that range (exponents, NaN),
/// take serde's path.
pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    let magnitude = value.abs();
    if value == 0.0 || (1e-4..4_503_599_627_370_496.0).contains(&magnitude) {
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(value);
        if value == 0.0 || !may_tie(value, text) {
            out.extend_from_slice(text.as_bytes());
            return;
        }
    }
    write(out, &value);
}

/// Whether `value`'s exact decimal expansion has one fractional digit more than `shortest`
/// (a normal, non-integer-exponent float: `value` = m × 2^e with e < 0, whose expansion ends
/// after e's magnitude less m's trailing zero bits, in a 5).
fn may_tie(value: f64, shortest: &str) -> bool {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let exact = (-exponent - mantissa.trailing_zeros() as i32).max(0);
    let written = match shortest.split_once('.') {
        Some((_, "0")) | None => 0,
        Some((_, fraction)) => fraction.len() as i32,
    };
    exact == written + 1
}

/// A string: quoted as it is when no byte of it needs escaping (printable ASCII without `"`
/// and `\`), else through serde's path ([`crate::bytes::ByteStr`]: the contract's escapes,
/// surrogate escapes for bytes that are not UTF-8).
pub(crate) fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    let plain = bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        write(out, &crate::bytes::ByteStr(bytes));
    }
}

/// Escapes valid UTF-8 as the contract does inside a JSON string literal (without quotes):
/// used by [`crate::bytes`] to pre-escape strings that are not UTF-8.
pub(crate) fn escape_str_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_contract() {
        #[derive(Serialize)]
        struct Row {
            a: u64,
            b: Vec<Option<&'static str>>,
            c: f64,
            d: f64,
            e: f64,
            f: f64,
            g: &'static str,
        }
        let row = Row {
            a: 1,
            b: vec![Some("x"), None],
            c: 1.5,
            d: f64::NAN,
            e: 1e-5,
            f: 1.0,
            g: "\u{8}\u{c}\u{7f}\u{1}\"\\/\n",
        };
        assert_eq!(
            to_string(&row),
            r#"{"a":1,"b":["x",null],"c":1.5,"d":null,"e":1e-5,"f":1.0,"g":"\u0008\u000c\u007f\u0001\"\\/\n"}"#
        );
    }

    #[test]
    fn strings_escape_the_same_both_ways() {
        let text = "tab\there \u{1f}\u{7f} é \"q\" \\";
        let mut literal = String::from("\"");
        escape_str_into(&mut literal, text);
        literal.push('"');
        assert_eq!(to_string(text), literal);
    }
}
