//! Validation of what a plugin rule returns: untrusted data, refused whole when any part
//! is malformed, out of range or oversized.

use advisor_core::OptimizationSuggestion;
use advisor_plugin_api::{AnalysisResponse, CONTEXT_DOCUMENT_VERSION};

use crate::limits::{
    MAX_CODE_CHARS, MAX_ID_CHARS, MAX_LINE_CHARS, MAX_LIST_ITEMS, MAX_RESPONSE_BYTES,
    MAX_SUGGESTIONS, MAX_TEXT_CHARS,
};

/// Parses and checks a response document from the rule `rule_id`.
pub(crate) fn response(rule_id: &str, json: &str) -> Result<Vec<OptimizationSuggestion>, String> {
    if json.len() > MAX_RESPONSE_BYTES {
        return Err(format!(
            "the response has {} bytes, more than {MAX_RESPONSE_BYTES}",
            json.len()
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let response: AnalysisResponse =
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            format!("invalid response at `{path}`: {}", error.inner())
        })?;
    // Version 2 changed only the request (it added the resolved facts): responses of
    // version 1 and 2 have one shape.
    if !(1..=CONTEXT_DOCUMENT_VERSION).contains(&response.document_version) {
        return Err(format!(
            "response document version {}, expected 1 to {CONTEXT_DOCUMENT_VERSION}",
            response.document_version
        ));
    }
    if response.suggestions.len() > MAX_SUGGESTIONS {
        return Err(format!(
            "{} suggestions, more than {MAX_SUGGESTIONS}",
            response.suggestions.len()
        ));
    }
    for (index, suggestion) in response.suggestions.iter().enumerate() {
        check_suggestion(rule_id, suggestion)
            .map_err(|problem| format!("suggestions[{index}]: {problem}"))?;
    }
    Ok(response.suggestions)
}

fn check_suggestion(rule_id: &str, suggestion: &OptimizationSuggestion) -> Result<(), String> {
    let id = &suggestion.id;
    // Only `.` may follow the rule id: with `_` a rule `batch` could answer as the built-in
    // `batch_size`, the clash the id checks exist to refuse.
    let owned = id == rule_id
        || id
            .strip_prefix(rule_id)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|name| !name.is_empty());
    if !owned || id.chars().count() > MAX_ID_CHARS {
        return Err(format!(
            "id `{}` is not the rule id `{rule_id}` or `{rule_id}.NAME` (at most {MAX_ID_CHARS} characters)",
            crate::load::shorten(id, MAX_ID_CHARS)
        ));
    }
    text("title", &suggestion.title, MAX_LINE_CHARS)?;
    text("description", &suggestion.description, MAX_TEXT_CHARS)?;
    list(
        "expected_improvement",
        suggestion.expected_improvement.len(),
    )?;
    for (index, improvement) in suggestion.expected_improvement.iter().enumerate() {
        let field = |name: &str| format!("expected_improvement[{index}].{name}");
        for (name, value) in [
            ("min_reduction", improvement.min_reduction),
            ("max_reduction", improvement.max_reduction),
        ] {
            if !value.is_finite() || !(0.0..1.0).contains(&value) {
                return Err(format!("{} = {value} is not in [0, 1)", field(name)));
            }
        }
        if improvement.min_reduction > improvement.max_reduction {
            return Err(format!(
                "{} = {} is above {} = {}",
                field("min_reduction"),
                improvement.min_reduction,
                field("max_reduction"),
                improvement.max_reduction
            ));
        }
        text(&field("basis"), &improvement.basis, MAX_TEXT_CHARS)?;
    }
    for (name, items) in [
        ("implementation_steps", &suggestion.implementation_steps),
        ("warnings", &suggestion.warnings),
        ("evidence", &suggestion.evidence),
    ] {
        list(name, items.len())?;
        for (index, item) in items.iter().enumerate() {
            text(&format!("{name}[{index}]"), item, MAX_TEXT_CHARS)?;
        }
    }
    list("code_examples", suggestion.code_examples.len())?;
    for (index, example) in suggestion.code_examples.iter().enumerate() {
        text(
            &format!("code_examples[{index}].language"),
            &example.language,
            MAX_ID_CHARS,
        )?;
        text(
            &format!("code_examples[{index}].code"),
            &example.code,
            MAX_CODE_CHARS,
        )?;
    }
    Ok(())
}

fn text(name: &str, value: &str, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "{name} has {chars} characters, more than {max_chars}"
        ));
    }
    // Plugin text reaches terminals and HTML: escape sequences (ESC, BEL, ...) could rewrite
    // what the user sees, so only line breaks and tabs are allowed among control characters.
    if let Some(position) = value
        .chars()
        .position(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(format!(
            "{name} has a control character at character {position}"
        ));
    }
    Ok(())
}

fn list(name: &str, len: usize) -> Result<(), String> {
    if len > MAX_LIST_ITEMS {
        return Err(format!(
            "{name} has {len} items, more than {MAX_LIST_ITEMS}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused() {
        assert!(text("title", "fine\nwith a line break\tand a tab", 100).is_ok());
        let error = text("title", "red \u{1b}[31malert", 100).unwrap_err();
        assert_eq!(error, "title has a control character at character 4");
    }

    fn answer(id: &str) -> String {
        let suggestion = OptimizationSuggestion::new(
            id,
            advisor_core::Category::Compute,
            advisor_core::Impact::Low,
            advisor_core::Difficulty::Easy,
            "title",
        );
        serde_json::json!({
            "document_version": CONTEXT_DOCUMENT_VERSION,
            "suggestions": [suggestion],
        })
        .to_string()
    }

    #[test]
    fn suggestion_ids_are_the_rule_id_or_a_dotted_name_under_it() {
        assert!(response("batch", &answer("batch")).is_ok());
        assert!(response("batch", &answer("batch.large")).is_ok());
        for foreign in [
            "batch_size",
            "batch-size",
            "batch.",
            "batchsize",
            "kv_cache",
        ] {
            let error = response("batch", &answer(foreign)).unwrap_err();
            assert!(error.contains(&format!("id `{foreign}`")), "{error}");
        }
    }
}
