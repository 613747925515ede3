//! JSON helpers shared by the importers: parsing with positions, and describing values in
//! error messages.

use serde_json::Value;

use crate::error::{ImportError, ImportErrorKind};

/// Longest rendering of a found value in an error message, in characters.
const MAX_RENDERED_CHARS: usize = 60;

/// Drops a UTF-8 byte-order mark, which editors on Windows sometimes write and `serde_json`
/// rejects.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Decodes bytes as UTF-8 text, naming the first bad byte.
pub(crate) fn decode_utf8<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str, ImportError> {
    std::str::from_utf8(bytes).map(strip_bom).map_err(|error| {
        ImportError::new(
            source,
            ImportErrorKind::NotUtf8 {
                valid_up_to: error.valid_up_to(),
            },
        )
    })
}

/// Parses JSON text into a value; malformed JSON is an error with line and column.
pub(crate) fn parse_value(text: &str, source: &str) -> Result<Value, ImportError> {
    serde_json::from_str(strip_bom(text)).map_err(|error| syntax_error(&error, source))
}

/// A parser error as [`ImportErrorKind::Json`].
pub(crate) fn syntax_error(error: &serde_json::Error, source: &str) -> ImportError {
    ImportError::new(
        source,
        ImportErrorKind::Json {
            line: error.line(),
            column: error.column(),
            message: message_without_position(error),
        },
    )
}

/// The parser's message without the ` at line L column C` suffix, which the caller reports
/// in its own words.
pub(crate) fn message_without_position(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// "an array", "a string", ... for messages such as "expected an object, found an array".
pub(crate) fn describe_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as compact JSON, shortened so that a huge value does not flood the message.
pub(crate) fn render(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_RENDERED_CHARS {
        return text;
    }
    let mut shortened: String = text.chars().take(MAX_RENDERED_CHARS).collect();
    shortened.push('…');
    shortened
}
