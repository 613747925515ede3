//! How much a plugin may return. Anything beyond these is refused, not truncated: a plugin
//! that returns it is broken or hostile, and the user should hear about it.

/// Largest response document, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Most suggestions one rule call may return.
pub const MAX_SUGGESTIONS: usize = 32;
/// Most items in any list of a suggestion (improvements, steps, code examples, warnings,
/// evidence).
pub const MAX_LIST_ITEMS: usize = 32;
/// Longest id (rule or suggestion), in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest one-line text (a title, a rule's name, a plugin's name or version).
pub const MAX_LINE_CHARS: usize = 200;
/// Longest prose (a description, a step, a warning, a piece of evidence, a basis).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest code example.
pub const MAX_CODE_CHARS: usize = 16384;
/// Longest failure message kept from a plugin; longer ones are cut.
pub const MAX_MESSAGE_CHARS: usize = 1000;
