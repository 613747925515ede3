//! Deployment targets: analyse for a GPU named by its table id instead of this machine.

use advisor_core::HardwareInfo;

use crate::{
    accelerators::{accelerators, find_accelerator},
    names::match_gpu_name,
};

/// Why a hardware request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HwError {
    /// A deployment target that is not an id of the accelerator table.
    #[error("{}", unknown_target_message(name, *suggestion, known))]
    UnknownTarget {
        /// The name as it was given.
        name: String,
        /// The known id closest to it, if any is close.
        suggestion: Option<&'static str>,
        /// Every known id, in table order.
        known: Vec<&'static str>,
    },
    /// A recording (NVML readings, a CPUID dump) that cannot be read; `origin` names it.
    #[error("{origin}: {message}")]
    Recording {
        /// Where the recording came from, usually a file name.
        origin: String,
        /// What is wrong with it, with the line when there is one.
        message: String,
    },
}

/// The hardware facts of a deployment target, named by its accelerator table id
/// (`nvidia-a100-80gb`; case, spaces and underscores are forgiven).
///
/// An unknown name is an error that lists the known ids and suggests the closest one.
///
/// ```
/// let info = advisor_hw_table::resolve_target("nvidia-l4").unwrap();
/// assert_eq!(info.gpu_model.as_deref(), Some("NVIDIA L4"));
///
/// let error = advisor_hw_table::resolve_target("h100").unwrap_err();
/// assert!(error.to_string().contains("did you mean `nvidia-h100-sxm`?"));
/// ```
pub fn resolve_target(name: &str) -> Result<HardwareInfo, HwError> {
    let id = normalize(name);
    if let Some(accelerator) = find_accelerator(&id) {
        return Ok(accelerator.to_hardware_info());
    }
    Err(HwError::UnknownTarget {
        name: name.to_owned(),
        suggestion: closest_id(name, &id),
        known: accelerators()
            .iter()
            .map(|accelerator| accelerator.id)
            .collect(),
    })
}

fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .map(|character| match character {
            ' ' | '_' => '-',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// The id an unknown target most likely meant: the part a driver name such as `h100` or
/// `Tesla T4` stands for, else an id that contains the name, else the most similar id.
fn closest_id(name: &str, normalized: &str) -> Option<&'static str> {
    if let Some(accelerator) = match_gpu_name(name, None) {
        return Some(accelerator.id);
    }
    let similarity = |id: &str| {
        // Compare without the vendor too, so that `a100-80gb` is close to `nvidia-a100-80gb`.
        let model = id.split_once('-').map_or(id, |(_, model)| model);
        strsim::normalized_damerau_levenshtein(normalized, id)
            .max(strsim::normalized_damerau_levenshtein(normalized, model))
    };
    let best = |ids: &mut dyn Iterator<Item = &'static str>| {
        ids.map(|id| (similarity(id), id))
            .max_by(|left, right| left.0.total_cmp(&right.0))
    };
    let ids = || accelerators().iter().map(|accelerator| accelerator.id);
    if normalized.len() >= 2
        && let Some((_, id)) = best(&mut ids().filter(|id| id.contains(normalized)))
    {
        return Some(id);
    }
    best(&mut ids())
        .filter(|(score, _)| *score >= 0.6)
        .map(|(_, id)| id)
}

fn unknown_target_message(name: &str, suggestion: Option<&str>, known: &[&str]) -> String {
    let hint = suggestion
        .map(|suggestion| format!(" (did you mean `{suggestion}`?)"))
        .unwrap_or_default();
    format!(
        "unknown deployment target `{name}`{hint}; known targets: {}",
        known.join(", ")
    )
}
