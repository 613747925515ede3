//! From the GPU name a driver reports to an entry of the accelerator table.
//!
//! Drivers spell the same part differently (`NVIDIA A100-SXM4-80GB`, `NVIDIA A100 80GB
//! PCIe`, `NVIDIA H100 80GB HBM3`), so names are split into lowercase alphanumeric words
//! and matched on the model word, the form factor (`sxm*`, `pcie`) and a memory size
//! (`80gb`). Where the name leaves the variant open, the reported memory decides.

use advisor_core::ComputeCapability;

use crate::accelerators::{Accelerator, find_accelerator};

/// Names of renderers that run on the CPU, lowercase. They are not GPUs.
const SOFTWARE_ADAPTERS: &[&str] = &[
    "llvmpipe",
    "lavapipe",
    "softpipe",
    "swiftshader",
    "swrast",
    "microsoft basic render driver",
    "microsoft basic display adapter",
];

/// Words that mark a different part than the table entry with the same model number, or a
/// slice of one: a laptop or Ti variant is slower or faster, an H100 NVL has other memory,
/// and a MIG instance has a fraction of the GPU.
const OTHER_VARIANT_WORDS: &[&str] = &[
    "ti", "super", "laptop", "mobile", "max", "q", "d", "nvl", "mig",
];

/// Reported memory must lie within this fraction of the table's capacity: drivers report up
/// to about 6% less (ECC on GDDR6 reserves 1/16), never much more.
const MEMORY_TOLERANCE: (f64, f64) = (0.85, 1.05);

/// Whether `name` is a software renderer (llvmpipe, lavapipe, SwiftShader, softpipe,
/// Microsoft Basic Render Driver) rather than a GPU.
///
/// ```
/// assert!(advisor_hw_table::is_software_adapter("llvmpipe (LLVM 15.0.7, 256 bits)"));
/// assert!(!advisor_hw_table::is_software_adapter("NVIDIA L4"));
/// ```
pub fn is_software_adapter(name: &str) -> bool {
    let name = name.to_lowercase();
    SOFTWARE_ADAPTERS
        .iter()
        .any(|adapter| name.contains(adapter))
}

/// The table entry for a GPU name as a driver reports it, such as `NVIDIA A100-SXM4-80GB`
/// or `Tesla T4`.
///
/// `memory_mb` is the memory the driver reports, in MiB. It picks the variant when the name
/// does not say (`Tesla V100-SXM2` with 32,510 MiB is the 32 GB part), and a name whose
/// memory does not fit the entry (an `80GB` name with 40 GiB) matches nothing. Software
/// renderers, unknown parts and other variants of a known model (Ti, laptop, NVL, a MIG
/// slice) match nothing: a near miss would lend the advice wrong figures.
///
/// ```
/// use advisor_hw_table::match_gpu_name;
///
/// let sxm = match_gpu_name("NVIDIA H100 80GB HBM3", None).unwrap();
/// assert_eq!(sxm.id, "nvidia-h100-sxm");
/// let v100 = match_gpu_name("Tesla V100-SXM2", Some(32_510)).unwrap();
/// assert_eq!(v100.id, "nvidia-v100-sxm2-32gb");
/// assert!(match_gpu_name("NVIDIA GeForce RTX 4090 Laptop GPU", None).is_none());
/// ```
pub fn match_gpu_name(name: &str, memory_mb: Option<u64>) -> Option<&'static Accelerator> {
    if is_software_adapter(name) {
        return None;
    }
    let words = words(name);
    if words
        .iter()
        .any(|word| OTHER_VARIANT_WORDS.contains(&word.as_str()))
    {
        return None;
    }
    let family = family(&words)?;
    let form = form_factor(&words).or(family.default_form);
    let size_gib = memory_size_gib(&words);

    let mut candidates: Vec<&Variant> = family
        .variants
        .iter()
        .filter(|variant| {
            variant.form.is_none() || form.is_none_or(|form| variant.form == Some(form))
        })
        .filter(|variant| size_gib.is_none_or(|size| variant.memory_gib == size))
        .collect();
    if let Some(reported) = memory_mb {
        let closest_gib = candidates
            .iter()
            .map(|variant| variant.memory_gib)
            .min_by_key(|memory_gib| memory_gib.saturating_mul(1024).abs_diff(reported));
        candidates.retain(|variant| Some(variant.memory_gib) == closest_gib);
    }
    let id = match candidates.as_slice() {
        [only] => only.id,
        [first, rest @ ..] if rest.iter().all(|variant| variant.id == first.id) => first.id,
        _ => return None,
    };
    let accelerator = find_accelerator(id)?;
    match memory_mb {
        Some(reported) if !memory_fits(accelerator, reported) => None,
        _ => Some(accelerator),
    }
}

/// The CUDA compute capability of a GPU name, for parts in the table and for other NVIDIA
/// parts whose generation the name shows (`NVIDIA A40`, `NVIDIA GeForce RTX 3080 Ti`).
///
/// Unlike [`match_gpu_name`], variants count as their model (a laptop RTX 4090 is still
/// 8.9). `None` for software renderers, non-NVIDIA devices and names it does not know.
///
/// ```
/// use advisor_core::ComputeCapability;
/// use advisor_hw_table::compute_capability_from_name;
///
/// assert_eq!(compute_capability_from_name("Tesla T4"), Some(ComputeCapability::new(7, 5)));
/// assert_eq!(compute_capability_from_name("NVIDIA A40"), Some(ComputeCapability::new(8, 6)));
/// assert_eq!(compute_capability_from_name("AMD Instinct MI300X"), None);
/// ```
pub fn compute_capability_from_name(name: &str) -> Option<ComputeCapability> {
    if is_software_adapter(name) {
        return None;
    }
    let words = words(name);
    let not_cuda = ["amd", "radeon", "instinct", "intel", "arc", "apple"];
    if words.iter().any(|word| not_cuda.contains(&word.as_str())) {
        return None;
    }
    if let Some(family) = family(&words) {
        return family.compute_capability;
    }
    words
        .iter()
        .enumerate()
        .find_map(|(index, word)| other_nvidia_part(&words, index, word))
}

/// Lowercase alphanumeric words: `NVIDIA A100-SXM4-80GB` → `nvidia a100 sxm4 80gb`.
fn words(name: &str) -> Vec<String> {
    name.split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormFactor {
    Sxm,
    Pcie,
}

fn form_factor(words: &[String]) -> Option<FormFactor> {
    words.iter().find_map(|word| {
        if word.starts_with("sxm") {
            Some(FormFactor::Sxm)
        } else if word == "pcie" {
            Some(FormFactor::Pcie)
        } else {
            None
        }
    })
}

/// A size word such as `80gb`.
fn memory_size_gib(words: &[String]) -> Option<u64> {
    words
        .iter()
        .find_map(|word| word.strip_suffix("gb")?.parse().ok())
}

fn memory_fits(accelerator: &Accelerator, reported_mb: u64) -> bool {
    let capacity_mb = accelerator.memory_mb() as f64;
    let ratio = reported_mb as f64 / capacity_mb;
    (MEMORY_TOLERANCE.0..=MEMORY_TOLERANCE.1).contains(&ratio)
}

/// One table entry a model name can mean.
struct Variant {
    id: &'static str,
    /// `None` for models made in one form factor only.
    form: Option<FormFactor>,
    memory_gib: u64,
}

/// A model as drivers name it, with the table entries it can be.
struct Family {
    compute_capability: Option<ComputeCapability>,
    /// The form factor to assume when the name gives none, for models whose PCIe names
    /// always say `PCIe`; `None` where a name without one is ambiguous.
    default_form: Option<FormFactor>,
    variants: &'static [Variant],
}

const fn capability(major: u32, minor: u32) -> Option<ComputeCapability> {
    Some(ComputeCapability::new(major, minor))
}

const fn variant(id: &'static str, form: Option<FormFactor>, memory_gib: u64) -> Variant {
    Variant {
        id,
        form,
        memory_gib,
    }
}

const SXM: Option<FormFactor> = Some(FormFactor::Sxm);
const PCIE: Option<FormFactor> = Some(FormFactor::Pcie);

// `Tesla V100-SXM2-16GB`, `Tesla V100-PCIE-32GB`; a name without either is ambiguous.
static V100: Family = Family {
    compute_capability: capability(7, 0),
    default_form: None,
    variants: &[
        variant("nvidia-v100-sxm2-16gb", SXM, 16),
        variant("nvidia-v100-sxm2-32gb", SXM, 32),
        variant("nvidia-v100-pcie-16gb", PCIE, 16),
        variant("nvidia-v100-pcie-32gb", PCIE, 32),
    ],
};
// `NVIDIA A100-SXM4-80GB`, `NVIDIA A100-PCIE-40GB`, `NVIDIA A100 80GB PCIe`. The 40 GB PCIe
// card has the 40 GB SXM part's figures, so both share one entry.
static A100: Family = Family {
    compute_capability: capability(8, 0),
    default_form: SXM,
    variants: &[
        variant("nvidia-a100-40gb", SXM, 40),
        variant("nvidia-a100-80gb", SXM, 80),
        variant("nvidia-a100-40gb", PCIE, 40),
        variant("nvidia-a100-80gb-pcie", PCIE, 80),
    ],
};
// `NVIDIA H100 80GB HBM3` is the SXM part; the PCIe card reports `NVIDIA H100 PCIe`.
static H100: Family = Family {
    compute_capability: capability(9, 0),
    default_form: SXM,
    variants: &[
        variant("nvidia-h100-sxm", SXM, 80),
        variant("nvidia-h100-pcie", PCIE, 80),
    ],
};
static H200: Family = Family {
    compute_capability: capability(9, 0),
    default_form: None,
    variants: &[variant("nvidia-h200", None, 141)],
};
static T4: Family = Family {
    compute_capability: capability(7, 5),
    default_form: None,
    variants: &[variant("nvidia-t4", None, 16)],
};
static A10G: Family = Family {
    compute_capability: capability(8, 6),
    default_form: None,
    variants: &[variant("nvidia-a10g", None, 24)],
};
static A10: Family = Family {
    compute_capability: capability(8, 6),
    default_form: None,
    variants: &[variant("nvidia-a10", None, 24)],
};
static L4: Family = Family {
    compute_capability: capability(8, 9),
    default_form: None,
    variants: &[variant("nvidia-l4", None, 24)],
};
static L40S: Family = Family {
    compute_capability: capability(8, 9),
    default_form: None,
    variants: &[variant("nvidia-l40s", None, 48)],
};
static RTX_3090: Family = Family {
    compute_capability: capability(8, 6),
    default_form: None,
    variants: &[variant("nvidia-rtx-3090", None, 24)],
};
static RTX_4090: Family = Family {
    compute_capability: capability(8, 9),
    default_form: None,
    variants: &[variant("nvidia-rtx-4090", None, 24)],
};
static MI300X: Family = Family {
    compute_capability: None,
    default_form: None,
    variants: &[variant("amd-mi300x", None, 192)],
};

/// The table model a name is about, from its model word.
fn family(words: &[String]) -> Option<&'static Family> {
    let has = |wanted: &str| words.iter().any(|word| word == wanted);
    words.iter().find_map(|word| match word.as_str() {
        "v100" => Some(&V100),
        "a100" => Some(&A100),
        "h100" => Some(&H100),
        "h200" => Some(&H200),
        "t4" => Some(&T4),
        "a10g" => Some(&A10G),
        "a10" => Some(&A10),
        "l4" => Some(&L4),
        "l40s" => Some(&L40S),
        "3090" if has("rtx") => Some(&RTX_3090),
        "4090" if has("rtx") => Some(&RTX_4090),
        "mi300x" => Some(&MI300X),
        _ => None,
    })
}

/// The compute capability of an NVIDIA part outside the table, from the word at `index`.
fn other_nvidia_part(words: &[String], index: usize, word: &str) -> Option<ComputeCapability> {
    let named = match word {
        "k80" => capability(3, 7),
        "p100" => capability(6, 0),
        "p4" | "p40" => capability(6, 1),
        "v100s" => capability(7, 0),
        "a30" | "a800" => capability(8, 0),
        "a2" | "a16" | "a40" => capability(8, 6),
        "l20" | "l40" => capability(8, 9),
        "h20" | "h800" | "gh200" => capability(9, 0),
        "b100" | "b200" | "gb200" => capability(10, 0),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    // Ampere workstation cards: `NVIDIA RTX A6000`.
    if let Some(number) = word.strip_prefix('a')
        && number.len() == 4
        && digits(number)
    {
        return capability(8, 6);
    }
    // GeForce and workstation numbers follow `RTX`, `GTX` or `RTX PRO`.
    let previous = index
        .checked_sub(1)
        .map(|previous| words[previous].as_str());
    if !matches!(previous, Some("rtx" | "gtx" | "pro")) || word.len() != 4 || !digits(word) {
        return None;
    }
    let number: u32 = word.parse().ok()?;
    let has = |wanted: &str| words.iter().any(|word| word == wanted);
    if number.is_multiple_of(1000) {
        // Workstation cards reuse round numbers across generations and name the
        // generation: `RTX 6000 Ada Generation`; the bare Quadro RTX 4000-8000 are Turing.
        return if has("ada") {
            capability(8, 9)
        } else if has("blackwell") {
            capability(12, 0)
        } else if previous == Some("rtx") {
            capability(7, 5)
        } else {
            None
        };
    }
    match number / 100 {
        10 => capability(6, 1),
        16 | 20 => capability(7, 5),
        30 => capability(8, 6),
        40 => capability(8, 9),
        50 => capability(12, 0),
        _ => None,
    }
}
