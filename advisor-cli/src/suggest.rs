//! "Did you mean": the closest of the names a flag takes, for a name the user typed.

/// The candidate a mistyped `input` most likely meant: the one it begins, when only one
/// does (`gpt` → none of several, `kv_cach` → `kv_cache`), else the nearest by
/// Damerau–Levenshtein distance when that is within a third of the name's length.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input = input.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    let normalize = |candidate: &str| candidate.to_ascii_lowercase().replace(['_', ' '], "-");
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let prefixed: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| input.len() >= 3 && normalize(c).starts_with(&input))
        .collect();
    if let [only] = prefixed.as_slice() {
        return Some(only);
    }
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&input, &normalize(c)), *c))
        .filter(|(distance, c)| *distance > 0 && *distance <= c.len().max(4) / 3 + 1)
        .min()
        .map(|(_, c)| c)
}

/// ` (did you mean `NAME`?)`, or nothing.
pub(crate) fn hint<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(input, candidates)
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_and_cut_names_find_their_name() {
        let rules = [
            "kv_cache",
            "kv_cache_quantization",
            "batch_size",
            "flash_attention",
        ];
        assert_eq!(closest("kv_cach", rules), Some("kv_cache"));
        assert_eq!(closest("flash-attention", rules), Some("flash_attention"));
        assert_eq!(closest("batch", rules), Some("batch_size"));
        assert_eq!(closest("falsh_attention", rules), Some("flash_attention"));
        assert_eq!(closest("zzz", rules), None);
        let examples = ["gpt2", "gpt2-medium", "llama-2-7b", "llama-2-13b"];
        assert_eq!(closest("gpt", examples), Some("gpt2"));
        assert_eq!(closest("llama2-7b", examples), Some("llama-2-7b"));
    }
}
