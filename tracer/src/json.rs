//! A small JSON writer for the command-line output. Strings that are not UTF-8 (argv, file
//! names) are written losslessly the way Python's `surrogateescape` decodes them — each byte
//! that is not part of valid UTF-8 becomes the lone surrogate `\udcXX` — so `json.loads` in
//! Python gives exactly the `str` that psutil returns for the same bytes.

use std::ffi::OsStr;
use std::fmt::Write as _;

/// Writes one JSON value into a string, element by element.
#[derive(Debug, Default)]
pub struct Json {
    out: String,
    /// One entry per open object/array: whether it already holds an element.
    has_element: Vec<bool>,
    /// A key was just written: the next value belongs to it.
    after_key: bool,
}

impl Json {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `bytes` of text.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: String::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// The JSON text written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn element(&mut self) {
        if std::mem::take(&mut self.after_key) {
            return;
        }
        if let Some(has) = self.has_element.last_mut() {
            if *has {
                self.out.push(',');
            }
            *has = true;
        }
    }

    /// Opens an object.
    pub fn begin_object(&mut self) -> &mut Self {
        self.element();
        self.out.push('{');
        self.has_element.push(false);
        self
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) -> &mut Self {
        self.has_element.pop();
        self.out.push('}');
        self
    }

    /// Opens an array.
    pub fn begin_array(&mut self) -> &mut Self {
        self.element();
        self.out.push('[');
        self.has_element.push(false);
        self
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) -> &mut Self {
        self.has_element.pop();
        self.out.push(']');
        self
    }

    /// Writes an object key; the next value written is its value.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.element();
        write_string(&mut self.out, key.as_bytes());
        self.out.push(':');
        self.after_key = true;
        self
    }

    /// Writes a string (bytes that are not UTF-8 are surrogate-escaped).
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.element();
        write_string(&mut self.out, value);
        self
    }

    /// Writes a string.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// Writes an OS string losslessly.
    pub fn os_str(&mut self, value: &OsStr) -> &mut Self {
        self.bytes(value.as_encoded_bytes())
    }

    /// Writes an unsigned integer.
    pub fn uint(&mut self, value: u64) -> &mut Self {
        self.element();
        let _ = write!(self.out, "{value}");
        self
    }

    /// Writes a signed integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.element();
        let _ = write!(self.out, "{value}");
        self
    }

    /// Writes a float; non-finite values become `null` (JSON has no NaN).
    pub fn float(&mut self, value: f64) -> &mut Self {
        self.element();
        if value.is_finite() {
            let _ = write!(self.out, "{value:?}");
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.element();
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Writes `null`.
    pub fn null(&mut self) -> &mut Self {
        self.element();
        self.out.push_str("null");
        self
    }

    /// Writes text that is already one complete JSON value.
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.element();
        self.out.push_str(json);
        self
    }

    /// Writes an optional integer, `null` when absent.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }
}

/// Transitional, for the writers not on serde yet (`ops`, `cli::events`): a process attribute
/// value through its `Serialize` impl. Goes away with this module.
impl crate::attrs::Value {
    /// Writes the value as JSON.
    pub fn write_json(&self, json: &mut Json) {
        json.raw(&crate::render::json::to_string(self));
    }
}

/// Appends `bytes` as a JSON string literal.
fn write_string(out: &mut String, mut bytes: &[u8]) {
    out.push('"');
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                escape_str(out, valid);
                break;
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                // SAFETY: `valid_up_to` is the length of the longest valid UTF-8 prefix.
                escape_str(out, unsafe { std::str::from_utf8_unchecked(valid) });
                let invalid = error.error_len().unwrap_or(rest.len());
                for &byte in &rest[..invalid] {
                    let _ = write!(out, "\\udc{byte:02x}");
                }
                bytes = &rest[invalid..];
            }
        }
    }
    out.push('"');
}

fn escape_str(out: &mut String, s: &str) {
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
    fn nested_values_get_commas_right() {
        let mut json = Json::new();
        json.begin_object();
        json.key("a").uint(1);
        json.key("b")
            .begin_array()
            .str("x")
            .null()
            .bool(true)
            .end_array();
        json.key("c")
            .begin_object()
            .key("d")
            .float(1.5)
            .end_object();
        json.key("e").opt_int(Some(-3));
        json.end_object();
        assert_eq!(
            json.finish(),
            r#"{"a":1,"b":["x",null,true],"c":{"d":1.5},"e":-3}"#
        );
    }

    #[test]
    fn invalid_utf8_is_surrogate_escaped_like_python() {
        let mut json = Json::new();
        json.bytes(b"caf\xc3\xa9 \xff\xfe\"\n\x01");
        assert_eq!(json.finish(), r#""café \udcff\udcfe\"\n\u0001""#);
    }
}
