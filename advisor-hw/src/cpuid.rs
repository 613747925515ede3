//! CPUID, read live on x86 or replayed from a recording: vendor, model, vector and matrix
//! extensions, cache sizes and frequencies.

use std::collections::HashMap;

use advisor_hw_table::HwError;
use raw_cpuid::{CacheType, CpuId, CpuIdReader, CpuIdResult};

use crate::detection::{CacheKind, CpuCache, CpuDetails};

/// A supplier of CPUID leaves: the processor itself ([`NativeCpuid`], x86 only) or a
/// recording ([`RecordedCpuid`]).
pub trait CpuidSource {
    /// The registers `[eax, ebx, ecx, edx]` of leaf `leaf`, subleaf `subleaf`.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4];
}

/// The CPUID instruction of the processor this runs on.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeCpuid;

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl CpuidSource for NativeCpuid {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let result = raw_cpuid::CpuIdReaderNative.cpuid2(leaf, subleaf);
        [result.eax, result.ebx, result.ecx, result.edx]
    }
}

/// CPUID leaves recorded on a real machine, in the text format of InstLatX64 and AIDA64
/// dumps (`CPUID 00000007: 00000001-F1BF97A9-00415FCE-10000010 [SL 00]`).
///
/// Only the first logical CPU of a multi-CPU dump is kept. Leaves that are not recorded
/// read as zeros, as CPUs answer for leaves they do not have.
///
/// ```
/// use advisor_hw::{CpuidSource, RecordedCpuid};
///
/// let dump = "CPUID 00000000: 00000010-68747541-444D4163-69746E65 [AuthenticAMD]\n\
///             CPUID 00000007: 00000020-00000000-00000000-00000000 [SL 01]\n";
/// let recorded = RecordedCpuid::parse(dump, "epyc.txt").unwrap();
/// assert_eq!(recorded.cpuid(0, 0)[1], 0x6874_7541);
/// assert_eq!(recorded.cpuid(7, 1)[0], 0x20);
/// assert_eq!(recorded.cpuid(7, 0), [0; 4]);
/// assert!(RecordedCpuid::parse("CPUID 7: 1-2-3", "bad.txt").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedCpuid {
    /// Leaves recorded without a subleaf answer every subleaf.
    leaves: HashMap<u32, [u32; 4]>,
    subleaves: HashMap<(u32, u32), [u32; 4]>,
}

impl RecordedCpuid {
    /// Reads a dump; `origin` (a file name) names it in errors, which also give the line.
    pub fn parse(text: &str, origin: &str) -> Result<RecordedCpuid, HwError> {
        let mut recorded = RecordedCpuid::default();
        let mut cpus_seen = 0;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.contains("Logical CPU #") {
                cpus_seen += 1;
                if cpus_seen > 1 {
                    break;
                }
                continue;
            }
            let Some(rest) = line.strip_prefix("CPUID ") else {
                continue;
            };
            let error = |message: &str| HwError::Recording {
                origin: origin.to_owned(),
                message: format!("line {}: {message}: `{line}`", index + 1),
            };
            let (leaf, rest) = rest
                .split_once(':')
                .ok_or_else(|| error("expected `CPUID LEAF: EAX-EBX-ECX-EDX`"))?;
            let leaf = hex(leaf).ok_or_else(|| error("the leaf is not a hexadecimal number"))?;
            let mut words = rest.split_whitespace();
            let registers: Vec<u32> = words
                .next()
                .unwrap_or_default()
                .split('-')
                .map(hex)
                .collect::<Option<_>>()
                .ok_or_else(|| error("registers are not hexadecimal numbers"))?;
            let registers: [u32; 4] = registers
                .try_into()
                .map_err(|_| error("expected four registers EAX-EBX-ECX-EDX"))?;
            let annotations: Vec<&str> = words.collect();
            let subleaf = annotations
                .iter()
                .position(|word| *word == "[SL")
                .and_then(|at| annotations.get(at + 1))
                .map(|number| {
                    hex(number.trim_end_matches(']'))
                        .ok_or_else(|| error("the subleaf is not a hexadecimal number"))
                })
                .transpose()?;
            match subleaf {
                Some(subleaf) => recorded.subleaves.insert((leaf, subleaf), registers),
                None => recorded.leaves.insert(leaf, registers),
            };
        }
        if recorded.leaves.is_empty() && recorded.subleaves.is_empty() {
            return Err(HwError::Recording {
                origin: origin.to_owned(),
                message: "no `CPUID LEAF: EAX-EBX-ECX-EDX` line".to_owned(),
            });
        }
        Ok(recorded)
    }
}

fn hex(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

impl CpuidSource for RecordedCpuid {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        self.subleaves
            .get(&(leaf, subleaf))
            .or_else(|| self.leaves.get(&leaf))
            .copied()
            .unwrap_or_default()
    }
}

/// Which vector registers the operating system saves on a context switch (XCR0): without
/// that, a CPU's AVX or AVX-512 cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsVectorSupport {
    /// The OS saves the 256-bit YMM registers (AVX, AVX2, FMA, F16C, AVX-VNNI).
    pub ymm: bool,
    /// The OS saves the 512-bit ZMM and mask registers (AVX-512).
    pub zmm: bool,
}

impl OsVectorSupport {
    /// An OS that saves every register, for recordings from machines that used them.
    pub const ALL: OsVectorSupport = OsVectorSupport {
        ymm: true,
        zmm: true,
    };

    /// What this machine's OS saves.
    pub fn native() -> OsVectorSupport {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            OsVectorSupport {
                ymm: std::arch::is_x86_feature_detected!("avx"),
                zmm: std::arch::is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
        {
            OsVectorSupport {
                ymm: false,
                zmm: false,
            }
        }
    }
}

struct Reader<'a, S: ?Sized>(&'a S);

// A derived `Clone` would ask `S: Clone`; copying the reference needs nothing.
impl<S: ?Sized> Clone for Reader<'_, S> {
    fn clone(&self) -> Self {
        Reader(self.0)
    }
}

impl<S: CpuidSource + ?Sized> CpuIdReader for Reader<'_, S> {
    fn cpuid2(&self, eax: u32, ecx: u32) -> CpuIdResult {
        let [eax, ebx, ecx, edx] = self.0.cpuid(eax, ecx);
        CpuIdResult { eax, ebx, ecx, edx }
    }
}

/// What CPUID tells about a CPU: vendor, model, caches, base and maximum frequency (Intel
/// leaf 0x16) and SIMD capabilities. Core and thread counts stay `None`: CPUID describes the
/// package, not what this process may use.
///
/// ```
/// use advisor_hw::{OsVectorSupport, RecordedCpuid, cpu_details_from_cpuid};
///
/// let dump = "CPUID 00000000: 00000010-68747541-444D4163-69746E65\n\
///             CPUID 00000001: 00A10F11-00200800-7EFA320B-178BFBFF\n";
/// let cpu = cpu_details_from_cpuid(&RecordedCpuid::parse(dump, "dump").unwrap(), OsVectorSupport::ALL);
/// assert_eq!(cpu.vendor.as_deref(), Some("AMD"));
/// assert!(cpu.simd_capabilities.contains(&"avx".to_owned()));
/// ```
pub fn cpu_details_from_cpuid<S: CpuidSource + ?Sized>(
    source: &S,
    os: OsVectorSupport,
) -> CpuDetails {
    let cpuid = CpuId::with_cpuid_reader(Reader(source));
    let vendor = cpuid
        .get_vendor_info()
        .map(|vendor| match vendor.as_str() {
            "GenuineIntel" => "Intel".to_owned(),
            "AuthenticAMD" => "AMD".to_owned(),
            "HygonGenuine" => "Hygon".to_owned(),
            other => other.trim().to_owned(),
        })
        .filter(|vendor| !vendor.is_empty());
    let model = cpuid
        .get_processor_brand_string()
        .map(|brand| brand.as_str().trim().to_owned())
        .filter(|brand| !brand.is_empty());
    let caches = cpuid
        .get_cache_parameters()
        .map(|parameters| {
            parameters
                .filter_map(|cache| {
                    let kind = match cache.cache_type() {
                        CacheType::Data => CacheKind::Data,
                        CacheType::Instruction => CacheKind::Instruction,
                        CacheType::Unified => CacheKind::Unified,
                        _ => return None,
                    };
                    let size_bytes = [
                        cache.associativity(),
                        cache.physical_line_partitions(),
                        cache.coherency_line_size(),
                        cache.sets(),
                    ]
                    .into_iter()
                    .try_fold(1u64, |size, factor| {
                        size.checked_mul(u64::try_from(factor).ok()?)
                    })?;
                    Some(CpuCache {
                        level: cache.level(),
                        kind,
                        size_bytes,
                        shared_by_threads: u32::try_from(cache.max_cores_for_cache()).ok(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let frequency = cpuid.get_processor_frequency_info();
    let mhz = |value: u16| (value > 0).then_some(u32::from(value));
    CpuDetails {
        vendor,
        model,
        base_frequency_mhz: frequency
            .as_ref()
            .and_then(|info| mhz(info.processor_base_frequency())),
        max_frequency_mhz: frequency
            .as_ref()
            .and_then(|info| mhz(info.processor_max_frequency())),
        caches,
        simd_capabilities: simd_capabilities(&cpuid, os),
        ..CpuDetails::default()
    }
}

/// The vector and matrix extensions, lowercase, in the order the issue lists them.
fn simd_capabilities<R: CpuIdReader>(cpuid: &CpuId<R>, os: OsVectorSupport) -> Vec<String> {
    let basic = cpuid.get_feature_info();
    let basic_has = |has: fn(&raw_cpuid::FeatureInfo) -> bool| basic.as_ref().is_some_and(has);
    let extended = cpuid.get_extended_feature_info();
    let extended_has =
        |has: fn(&raw_cpuid::ExtendedFeatures) -> bool| extended.as_ref().is_some_and(has);
    let features = [
        ("sse4.2", basic_has(|features| features.has_sse42())),
        ("avx", os.ymm && basic_has(|features| features.has_avx())),
        (
            "avx2",
            os.ymm && extended_has(|features| features.has_avx2()),
        ),
        ("fma", os.ymm && basic_has(|features| features.has_fma())),
        ("f16c", os.ymm && basic_has(|features| features.has_f16c())),
        (
            "avx512f",
            os.zmm && extended_has(|features| features.has_avx512f()),
        ),
        (
            "avx512bw",
            os.zmm && extended_has(|features| features.has_avx512bw()),
        ),
        (
            "avx512vl",
            os.zmm && extended_has(|features| features.has_avx512vl()),
        ),
        (
            "avx512vnni",
            os.zmm && extended_has(|features| features.has_avx512vnni()),
        ),
        (
            "avx512bf16",
            os.zmm && extended_has(|features| features.has_avx512_bf16()),
        ),
        (
            "avx512fp16",
            os.zmm && extended_has(|features| features.has_avx512_fp16()),
        ),
        (
            "avx-vnni",
            os.ymm && extended_has(|features| features.has_avx_vnni()),
        ),
        // AMX state is granted per process on request (Linux `arch_prctl`), so what counts
        // here is that the CPU has it.
        ("amx-tile", extended_has(|features| features.has_amx_tile())),
        ("amx-bf16", extended_has(|features| features.has_amx_bf16())),
        ("amx-int8", extended_has(|features| features.has_amx_int8())),
    ];
    features
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name.to_owned())
        .collect()
}
