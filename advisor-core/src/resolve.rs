//! Turns an [`AnalysisContext`] into [`ResolvedFacts`]: one place for every default and
//! lookup, each recorded with its source.

use crate::{
    change::{AttentionKernel, OptimizerKind, WeightFormat},
    config::{Mode, Precision, RunConfig},
    context::AnalysisContext,
    device::{AcceleratorCatalog, PeakThroughput},
    facts::{
        CpuFacts, Fact, GpuFacts, GpuState, Measured, ModelShape, ResolvedFacts, ResolvedRun,
        Source, quantized_weights,
    },
    formulas,
    trace::{KernelPrecision, TraceGeneration},
};

/// Generated tokens assumed when only the sequence length is given: half of it, at most
/// this many (serving benchmarks' answers run to a few hundred tokens; vLLM's ShareGPT
/// benchmark averages about 200–400 output tokens).
const ASSUMED_MAX_GENERATED: u64 = 512;
/// Clock assumed for CPU peak figures when the machine does not report one.
const ASSUMED_CPU_GHZ: f64 = 2.5;
/// Memory bandwidth one core can draw (STREAM triad on current x86 servers sustains roughly
/// 8–15 GB/s per core; McCalpin, "STREAM", and vendors' published STREAM results).
const ASSUMED_PER_THREAD_BANDWIDTH: f64 = 10e9;
/// Ceiling of a whole machine's bandwidth when nothing was measured: eight DDR4-3200 channels
/// (8 × 25.6 GB/s peak) at about 50 % sustained.
const ASSUMED_MACHINE_BANDWIDTH: f64 = 100e9;

pub(crate) fn resolve(
    context: &AnalysisContext,
    config: &RunConfig,
    catalog: &dyn AcceleratorCatalog,
) -> ResolvedFacts {
    let mut warnings = Vec::new();
    let model = context.model_graph.as_ref().map(ModelShape::from_graph);
    let gpu = resolve_gpu(context, catalog);
    let cpu = context.hardware_info.as_ref().map(resolve_cpu);

    // What the trace shows the run uses: a measured fact, used where the config is silent and
    // warned about where the config says otherwise.
    let traced = context
        .profile_results
        .as_ref()
        .and_then(|p| p.trace.as_ref())
        .and_then(|t| t.run.as_ref());
    let traced_mode = traced.and_then(|run| {
        let mode = run.mode?;
        let evidence = run.mode_evidence.as_deref().unwrap_or("its operators");
        Some(Fact::new(
            mode,
            Source::Measured(format!("trace: {evidence}")),
        ))
    });
    let mode = config_or_traced(
        "mode",
        config.mode,
        traced_mode,
        ToString::to_string,
        &mut warnings,
    );
    let on_gpu = match (config.device, &gpu) {
        (Some(device), gpu) => {
            let on = device.is_gpu();
            if on && matches!(gpu, GpuState::Absent) {
                warnings.push(format!(
                    "config device = {} but the hardware has no GPU: the analysis follows the config",
                    device.as_str()
                ));
            }
            if let (Some(vendor), GpuState::Present(facts)) = (device.gpu_vendor(), gpu)
                && let Some(spec) = &facts.spec
                && spec.vendor != vendor
            {
                warnings.push(format!(
                    "config device = {} needs an {} GPU, but the GPU is the {} ({})",
                    device.as_str(),
                    vendor.name(),
                    spec.name,
                    spec.vendor.name()
                ));
            }
            Some(Fact::new(on, Source::Config("device".to_owned())))
        }
        (None, GpuState::Present(facts)) => Some(Fact::new(
            true,
            Source::Assumed(format!(
                "device not set; the run is assumed to use the {}",
                facts.name
            )),
        )),
        (None, GpuState::Absent) => Some(Fact::new(
            false,
            Source::Hardware("gpu_model (none: the run is on the CPU)".to_owned()),
        )),
        (None, GpuState::Unknown) => None,
    };

    // The batch the trace's attention shapes show: measured where the config is silent.
    let traced_batch = traced.and_then(|run| {
        let batch = run.batch_size?;
        let evidence = run.shape_evidence.as_deref().unwrap_or("recorded shapes");
        Some(Fact::new(
            batch,
            Source::Measured(format!("trace: {evidence}")),
        ))
    });
    let batch_size = config_or_traced(
        "batch_size",
        config.batch_size,
        traced_batch,
        |batch| format!("batch {batch}"),
        &mut warnings,
    )
    .unwrap_or_else(|| {
        Fact::new(
            1,
            Source::Assumed("batch_size not set; one sequence per step".to_owned()),
        )
    });

    let traced_tokens = traced.and_then(|run| {
        Some((
            run.query_tokens?,
            run.shape_evidence
                .clone()
                .unwrap_or_else(|| "recorded shapes".to_owned()),
        ))
    });
    let (prompt_tokens, generated_tokens) = resolve_tokens(
        config,
        model.as_ref(),
        mode.as_ref().map(|m| m.value),
        traced_tokens,
        traced.and_then(|run| run.generation.as_ref()),
        &mut warnings,
    );

    let mean_tokens = config
        .mean_seq_len
        .map(|mean| Fact::new(mean, Source::Config("mean_seq_len".to_owned())));
    if let (Some(mean), Some(padded)) = (config.mean_seq_len, prompt_tokens.as_ref())
        && mean > padded.value
    {
        warnings.push(format!(
            "config mean_seq_len = {mean} is longer than the {} tokens sequences are padded to ({})",
            padded.value, padded.source
        ));
    }

    // Weights: the quantization setting, an integer `precision`, or the model's dtype.
    let model_dtype = model.as_ref().and_then(|m| m.dtype);
    let quantized = config
        .quantization
        .and_then(quantized_weights)
        .map(|format| Fact::new(format, Source::Config("quantization".to_owned())))
        .or_else(|| match config.precision {
            Some(Precision::Int8) => Some(Fact::new(
                WeightFormat::Int8,
                Source::Config("precision".to_owned()),
            )),
            Some(Precision::Int4) => Some(Fact::new(
                WeightFormat::Int4,
                Source::Config("precision".to_owned()),
            )),
            _ => None,
        })
        .or_else(|| match model_dtype {
            Some(Precision::Int8) => Some(Fact::new(
                WeightFormat::Int8,
                Source::Model("dtype".to_owned()),
            )),
            Some(Precision::Int4) => Some(Fact::new(
                WeightFormat::Int4,
                Source::Model("dtype".to_owned()),
            )),
            _ => None,
        });

    // Compute: a floating-point `precision`, else the precision the trace's matmul kernels
    // ran in, else the model's float dtype, else fp32.
    let traced_precision = traced.and_then(|run| {
        let kernel = run.matmul_precision?;
        let precision = kernel.precision()?;
        let share = run
            .matmul_by_precision
            .iter()
            .find(|s| s.precision == kernel)
            .map_or(0.0, |s| s.pct);
        let examples = run.matmul_examples.join(", ");
        Some((
            kernel,
            Fact::new(
                precision,
                Source::Measured(format!(
                    "trace: {share:.0} % of matmul and convolution kernel time is {} ({examples})",
                    kernel.as_str()
                )),
            ),
        ))
    });
    if let (Some(given), Some((kernel, traced))) = (config.precision, &traced_precision)
        && given != traced.value
        && !matches!(given, Precision::Int8 | Precision::Int4)
    {
        warnings.push(format!(
            "config precision = {given} but the trace's matmuls run in {} ({}): the analysis follows the config; check that the trace is of this run",
            kernel.as_str(),
            traced.source
        ));
    }
    let tf32 = match &traced_precision {
        Some((KernelPrecision::Tf32, fact)) => Some(Fact::new(true, fact.source.clone())),
        _ => None,
    };
    let compute = match (config.precision, traced_precision) {
        (Some(p), _) if !matches!(p, Precision::Int8 | Precision::Int4) => {
            Fact::new(p, Source::Config("precision".to_owned()))
        }
        (_, Some((_, traced))) if quantized.is_none() => traced,
        _ => match model_dtype {
            Some(p) if !matches!(p, Precision::Int8 | Precision::Int4) => {
                Fact::new(p, Source::Model("dtype".to_owned()))
            }
            _ if quantized.as_ref().is_some_and(|q| q.value == WeightFormat::W8A8) => Fact::new(
                Precision::Fp16,
                Source::Assumed(
                    "W8A8 runs the Linear layers' matmuls in int8 and the rest (attention, norms, the head) in 16-bit"
                        .to_owned(),
                ),
            ),
            _ if quantized.is_some() => Fact::new(
                Precision::Fp16,
                Source::Assumed(
                    "integer-quantized weights are dequantized to 16-bit for the matmuls"
                        .to_owned(),
                ),
            ),
            _ => Fact::new(
                Precision::Fp32,
                Source::Assumed(
                    "precision not given; fp32 is PyTorch's default when a model is loaded without a dtype"
                        .to_owned(),
                ),
            ),
        },
    };
    let weights = quantized.unwrap_or_else(|| {
        Fact::new(
            WeightFormat::Float(compute.value),
            Source::Derived(format!(
                "weights stored at the compute precision, {}",
                compute.value
            )),
        )
    });
    let kv_cache_dtype = match config.kv_cache_dtype {
        Some(dtype) => Fact::new(dtype, Source::Config("kv_cache_dtype".to_owned())),
        None => Fact::new(
            formulas::default_kv_dtype(Some(compute.value)),
            Source::Derived(format!(
                "the KV cache is kept at the compute precision, {}",
                compute.value
            )),
        ),
    };
    let engine = match config.engine {
        Some(engine) => Fact::new(engine, Source::Config("engine".to_owned())),
        None => Fact::new(
            crate::config::Engine::Hf,
            Source::Assumed(
                "engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward)"
                    .to_owned(),
            ),
        ),
    };
    let traced_compile = traced.and_then(|run| {
        let evidence = match (&run.compiled, run.cuda_graph_launches) {
            (Some(compiled), 0) => compiled.clone(),
            (Some(compiled), graphs) => format!("{compiled}, {graphs} cudaGraphLaunch calls"),
            (None, 0) => return None,
            (None, graphs) => format!("{graphs} cudaGraphLaunch calls"),
        };
        Some(Fact::new(
            true,
            Source::Measured(format!("trace: {evidence}")),
        ))
    });
    let compiled = match (config.compile, traced_compile) {
        (Some(on), traced) => {
            if !on && let Some(traced) = traced {
                warnings.push(format!(
                    "config compile = false but the trace shows torch.compile or CUDA graphs ({}): the analysis follows the config",
                    traced.source
                ));
            }
            Fact::new(on, Source::Config("compile".to_owned()))
        }
        (None, Some(traced)) => traced,
        // Serving engines capture the decode step in CUDA graphs by default.
        (None, None) if engine.value.pages_kv_cache() => Fact::new(
            true,
            Source::Derived(format!(
                "{} captures decode steps in CUDA graphs by default",
                engine.value
            )),
        ),
        (None, None) => Fact::new(
            false,
            Source::Assumed(
                "compile not set; PyTorch runs eagerly unless torch.compile is called".to_owned(),
            ),
        ),
    };
    let kv_cache = match config.kv_cache {
        Some(on) => Fact::new(on, Source::Config("kv_cache".to_owned())),
        None => Fact::new(
            true,
            Source::Assumed(
                "kv_cache not set; Hugging Face generate() uses the cache by default".to_owned(),
            ),
        ),
    };
    let traced_attention = traced
        .filter(|run| !run.fused_attention.is_empty())
        .map(|run| run.fused_attention.join(", "));
    if config.flash_attention == Some(false)
        && let Some(kernels) = &traced_attention
    {
        warnings.push(format!(
            "config flash_attention = false but the trace shows fused attention ({kernels}): the analysis follows the config"
        ));
    }
    let attention = match config.flash_attention {
        Some(true) => Fact::new(AttentionKernel::Fused, Source::Config("flash_attention".to_owned())),
        Some(false) => Fact::new(AttentionKernel::Eager, Source::Config("flash_attention".to_owned())),
        None if traced_attention.is_some() => Fact::new(
            AttentionKernel::Fused,
            Source::Measured(format!(
                "trace: fused attention kernels ({})",
                traced_attention.unwrap_or_default()
            )),
        ),
        None => Fact::new(
            AttentionKernel::Fused,
            Source::Assumed(
                "flash_attention not set; Hugging Face models default to PyTorch SDPA, which picks a fused kernel when it can"
                    .to_owned(),
            ),
        ),
    };
    let gradient_checkpointing = match config.gradient_checkpointing {
        Some(on) => Fact::new(on, Source::Config("gradient_checkpointing".to_owned())),
        None => Fact::new(
            false,
            Source::Assumed("gradient_checkpointing not set; off by default".to_owned()),
        ),
    };
    let threads = match (config.num_threads, cpu.as_ref().and_then(|c| c.cores)) {
        (Some(threads), _) => Some(Fact::new(threads, Source::Config("num_threads".to_owned()))),
        (None, Some(cores)) => Some(Fact::new(
            u64::from(cores),
            Source::Assumed(
                "num_threads not set; PyTorch uses one intra-op thread per physical core"
                    .to_owned(),
            ),
        )),
        (None, None) => None,
    };
    // The optimizer's state is what the memory model needs: Adam-family keeps two moments,
    // SGD with momentum one buffer (Kingma & Ba 2015; PyTorch's `torch.optim` docs).
    let traced_optimizer = traced
        .and_then(|run| run.optimizer.as_ref())
        .and_then(|o| o.name.as_deref())
        .and_then(|name| {
            let lower = name.to_ascii_lowercase();
            let kind = if lower.starts_with("adam") {
                OptimizerKind::AdamW
            } else if lower == "sgd" {
                OptimizerKind::SgdMomentum
            } else {
                return None;
            };
            Some(Fact::new(
                kind,
                Source::Measured(format!("trace: Optimizer.step#{name}.step")),
            ))
        });
    let configured_optimizer = config
        .optimizer
        .map(|kind| Fact::new(kind, Source::Config("optimizer".to_owned())));
    let optimizer = configured_optimizer
        .or(traced_optimizer)
        .unwrap_or_else(|| {
            Fact::new(
                OptimizerKind::AdamW,
                Source::Assumed(
                    "the optimizer is not given; AdamW is the default of Hugging Face's Trainer"
                        .to_owned(),
                ),
            )
        });
    let tf32 = tf32.unwrap_or_else(|| {
        Fact::new(
            false,
            Source::Assumed(
                "fp32 matmuls run in full fp32 unless torch.backends.cuda.matmul.allow_tf32 or set_float32_matmul_precision(\"high\") is set (PyTorch's default since 1.12)"
                    .to_owned(),
            ),
        )
    });

    let config_fact = |value: Option<u64>, key: &str, default: fn() -> Fact<u64>| {
        value.map_or_else(default, |v| Fact::new(v, Source::Config(key.to_owned())))
    };
    let traced_world = context
        .profile_results
        .as_ref()
        .and_then(|p| p.trace.as_ref())
        .and_then(|t| t.communication.as_ref())
        .and_then(|c| c.world_size)
        .filter(|w| *w > 0);
    let data_parallel = match (config.data_parallel, traced_world) {
        (Some(n), _) => Fact::new(n, Source::Config("data_parallel".to_owned())),
        (None, Some(n)) => Fact::new(
            n,
            Source::Measured("trace: distributedInfo world_size".to_owned()),
        ),
        (None, None) => crate::facts::default_data_parallel(),
    };
    let zero_stage = config
        .zero_stage
        .map_or_else(crate::facts::default_zero_stage, |v| {
            Fact::new(v, Source::Config("zero_stage".to_owned()))
        });
    let cpu_offload = config
        .cpu_offload
        .map_or_else(crate::facts::default_cpu_offload, |v| {
            Fact::new(v, Source::Config("cpu_offload".to_owned()))
        });
    let lora_rank = config_fact(
        config.lora_rank,
        "lora_rank",
        crate::facts::default_lora_rank,
    );
    let gradient_accumulation = config_fact(
        config.gradient_accumulation,
        "gradient_accumulation",
        crate::facts::default_gradient_accumulation,
    );
    let pipeline_stages = config_fact(
        config.pipeline_stages,
        "pipeline_stages",
        crate::facts::default_pipeline_stages,
    );
    let numa_processes = config_fact(
        config.numa_processes,
        "numa_processes",
        crate::facts::default_numa_processes,
    );
    let micro_batches = config_fact(
        config.micro_batches,
        "micro_batches",
        crate::facts::default_micro_batches,
    );

    let measured = Measured {
        peak_memory_bytes: context.memory_metrics.as_ref().and_then(|m| m.peak_bytes),
        allocated_bytes: context
            .memory_metrics
            .as_ref()
            .and_then(|m| m.allocated_bytes),
        reserved_bytes: context
            .memory_metrics
            .as_ref()
            .and_then(|m| m.reserved_bytes),
        latency_ms: context
            .latency_metrics
            .as_ref()
            .and_then(|l| l.mean_ms.or(l.median_ms).or(l.p50_ms))
            .filter(|ms| ms.is_finite() && *ms > 0.0),
        trace_step_ms: context
            .profile_results
            .as_ref()
            .and_then(|p| p.trace.as_ref())
            .and_then(|t| t.step_time_us_mean)
            .map(|us| us / 1000.0)
            .filter(|ms| ms.is_finite() && *ms > 0.0),
    };

    ResolvedFacts {
        model,
        gpu,
        cpu,
        run: ResolvedRun {
            mode,
            on_gpu,
            batch_size,
            prompt_tokens,
            generated_tokens,
            mean_tokens,
            compute,
            tf32,
            weights,
            kv_cache_dtype,
            kv_cache,
            attention,
            gradient_checkpointing,
            threads,
            optimizer,
            compiled,
            engine,
            lora_rank,
            data_parallel,
            zero_stage,
            cpu_offload,
            gradient_accumulation,
            pipeline_stages,
            micro_batches,
            numa_processes,
            prefill_chunk: config
                .prefill_chunk
                .map(|tokens| Fact::new(tokens, Source::Config("prefill_chunk".to_owned()))),
            latency_budget_ms: config
                .latency_budget_ms
                .map(|ms| Fact::new(ms, Source::Config("latency_budget_ms".to_owned()))),
            ttft_budget_ms: config
                .slo_ttft_ms
                .map(|ms| Fact::new(ms, Source::Config("slo_ttft_ms".to_owned()))),
            tpot_budget_ms: config
                .slo_tpot_ms
                .map(|ms| Fact::new(ms, Source::Config("slo_tpot_ms".to_owned()))),
        },
        measured,
        warnings,
    }
}

fn resolve_gpu(context: &AnalysisContext, catalog: &dyn AcceleratorCatalog) -> GpuState {
    let Some(hardware) = &context.hardware_info else {
        return GpuState::Unknown;
    };
    let Some(name) = hardware.gpu_model.as_deref().map(str::trim) else {
        return GpuState::Absent;
    };
    if name.is_empty() || catalog.is_software_adapter(name) {
        return GpuState::Absent;
    }
    let spec = catalog.gpu(name, hardware.gpu_memory_mb);
    let compute_capability = hardware
        .gpu_compute_capability
        .map(|cc| Fact::new(cc, Source::Hardware("gpu_compute_capability".to_owned())))
        .or_else(|| {
            let spec = spec.as_ref()?;
            Some(Fact::new(
                spec.compute_capability?,
                Source::Table(format!("{} ({})", spec.id, spec.source)),
            ))
        });
    let memory_bytes = hardware
        .gpu_memory_bytes()
        .map(|bytes| Fact::new(bytes, Source::Hardware("gpu_memory_mb".to_owned())))
        .or_else(|| {
            let spec = spec.as_ref()?;
            Some(Fact::new(
                spec.memory_bytes,
                Source::Table(format!("{} ({})", spec.id, spec.source)),
            ))
        });
    GpuState::Present(Box::new(GpuFacts {
        name: name.to_owned(),
        spec,
        compute_capability,
        memory_bytes,
        count: u64::from(hardware.gpu_count.unwrap_or(1).max(1)),
    }))
}

/// Per-core peak FLOP/s from the vector and matrix extensions the CPU reports, at an assumed
/// clock. Per cycle and core, with two FMA ports: AVX-512 does 2 × 16 fp32 FMAs (64 FLOPs),
/// AVX2 2 × 8 (32), NEON 2 × 4 (16); AVX512-BF16 `vdpbf16ps` doubles the fp32 rate; AVX512-VNNI
/// `vpdpbusd` does 64 int8 multiply-adds per instruction (4× fp32); AMX does 1,024 bf16 and
/// 2,048 int8 operations per cycle (Intel Optimization Reference Manual, vol. 1, ch. 20).
fn resolve_cpu(hardware: &crate::HardwareInfo) -> CpuFacts {
    let simd: Vec<String> = hardware
        .simd_capabilities
        .clone()
        .unwrap_or_default()
        .into_iter()
        // The probe's spelling (`avx512bf16`, `amx-bf16`); Linux's /proc/cpuinfo writes
        // `avx512_bf16` and `amx_bf16`.
        .map(|s| {
            let lower = s.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("amx_") {
                format!("amx-{rest}")
            } else if lower == "avx_vnni" {
                "avx-vnni".to_owned()
            } else {
                lower.replace('_', "")
            }
        })
        .collect();
    let has = |name: &str| simd.iter().any(|s| s == name);
    let fp32_per_cycle = if has("avx512f") {
        64.0
    } else if has("avx2") || has("fma") {
        32.0
    } else if has("neon") || has("asimd") {
        16.0
    } else {
        8.0
    };
    let calibration = hardware
        .cpu_calibration
        .as_ref()
        .filter(|c| c.clock_ghz.is_finite() && c.clock_ghz > 0.1 && c.clock_ghz < 10.0);
    let ghz = calibration.map_or(ASSUMED_CPU_GHZ, |c| c.clock_ghz);
    let hz = ghz * 1e9;
    let bf16_per_cycle = if has("amx-bf16") {
        Some(1024.0)
    } else if has("avx512bf16") {
        Some(2.0 * fp32_per_cycle)
    } else {
        None
    };
    let int8_per_cycle = if has("amx-int8") {
        Some(2048.0)
    } else if has("avx512vnni") || has("avx-vnni") {
        Some(4.0 * fp32_per_cycle)
    } else if has("avx2") {
        Some(2.0 * fp32_per_cycle)
    } else {
        None
    };
    let fp16_per_cycle = if has("avx512fp16") {
        Some(2.0 * fp32_per_cycle)
    } else {
        None
    };
    let per_core_peak = PeakThroughput {
        fp32: Some(fp32_per_cycle * hz),
        tf32: None,
        fp16: fp16_per_cycle.map(|f| f * hz),
        bf16: bf16_per_cycle.map(|f| f * hz),
        fp8: None,
        int8: int8_per_cycle.map(|f| f * hz),
    };
    let widest = if has("avx512f") {
        "AVX-512"
    } else if has("avx2") {
        "AVX2"
    } else if has("neon") || has("asimd") {
        "NEON"
    } else {
        "no vector extension reported"
    };
    let cores = hardware.cpu_cores;
    let measured_bandwidth = hardware.cpu_calibration.as_ref().filter(|c| {
        c.per_thread_bandwidth_gbps.is_finite()
            && c.per_thread_bandwidth_gbps > 0.0
            && c.machine_bandwidth_gbps.is_finite()
            && c.machine_bandwidth_gbps >= c.per_thread_bandwidth_gbps
    });
    let per_thread_bandwidth = measured_bandwidth.map_or(ASSUMED_PER_THREAD_BANDWIDTH, |c| {
        c.per_thread_bandwidth_gbps * 1e9
    });
    // Each NUMA node (a socket, or a sub-NUMA cluster) has its own memory channels: the
    // assumed ceiling is per node.
    let numa_nodes = hardware.numa_nodes.filter(|n| *n > 0);
    let nodes = f64::from(numa_nodes.unwrap_or(1));
    let machine_bandwidth = match measured_bandwidth {
        Some(c) => c.machine_bandwidth_gbps * 1e9,
        None => cores.map_or(ASSUMED_MACHINE_BANDWIDTH * nodes, |cores| {
            (f64::from(cores) * ASSUMED_PER_THREAD_BANDWIDTH).min(ASSUMED_MACHINE_BANDWIDTH * nodes)
        }),
    };
    let peak_source = {
        let per_cycle = |name: &str, value: Option<f64>, unit: &str| {
            value.map(|v| format!(", {name} {v:.0} {unit}"))
        };
        let rates = format!(
            "fp32 {fp32_per_cycle:.0} FLOPs per cycle and core ({widest}){}{}{}",
            per_cycle(
                if has("amx-bf16") {
                    "bf16 (AMX)"
                } else {
                    "bf16"
                },
                bf16_per_cycle,
                "FLOPs"
            )
            .unwrap_or_default(),
            per_cycle(
                if has("amx-int8") {
                    "int8 (AMX)"
                } else {
                    "int8"
                },
                int8_per_cycle,
                "ops"
            )
            .unwrap_or_default(),
            per_cycle("fp16", fp16_per_cycle, "FLOPs").unwrap_or_default(),
        );
        match calibration {
            Some(c) => Source::Measured(format!("{rates} at {ghz:.2} GHz ({})", c.method)),
            None => Source::Assumed(format!(
                "{rates} at {ASSUMED_CPU_GHZ} GHz (the clock is not reported; advisor hardware --calibrate measures it)"
            )),
        }
    };
    CpuFacts {
        model: hardware.cpu_model.clone(),
        cores,
        simd,
        memory_bytes: hardware.system_memory_bytes(),
        per_core_peak,
        peak_source,
        per_thread_bandwidth,
        machine_bandwidth,
        bandwidth_source: match measured_bandwidth {
            Some(c) => Source::Measured(format!(
                "{:.1} GB/s per thread, {:.1} GB/s for the machine ({})",
                c.per_thread_bandwidth_gbps, c.machine_bandwidth_gbps, c.method
            )),
            None => Source::Assumed(format!(
                "no measured bandwidth: {:.0} GB/s per thread up to {:.0} GB/s for the machine (typical STREAM figures; advisor hardware --calibrate measures them)",
                ASSUMED_PER_THREAD_BANDWIDTH / 1e9,
                machine_bandwidth / 1e9
            )),
        },
        numa_nodes,
    }
}

/// The config's `key` where it gives one, else what the trace shows; a trace that shows
/// another value than the config's is warned about (`shown` words the trace's value).
fn config_or_traced<T: PartialEq + std::fmt::Display>(
    key: &str,
    configured: Option<T>,
    traced: Option<Fact<T>>,
    shown: impl Fn(&T) -> String,
    warnings: &mut Vec<String>,
) -> Option<Fact<T>> {
    let Some(value) = configured else {
        return traced;
    };
    if let Some(traced) = traced
        && traced.value != value
    {
        warnings.push(format!(
            "config {key} = {value} but the trace shows {} ({}): the analysis follows the config; check that the trace is of this run",
            shown(&traced.value),
            traced.source
        ));
    }
    Some(Fact::new(value, Source::Config(key.to_owned())))
}

/// Splits the sequence into prompt and generated tokens.
/// `traced`: the query tokens per sequence the trace's attention shapes show, and where from;
/// the sequence length of a run that does not generate (an encoder, or training), where the
/// config is silent. (A generating run's queries are one token in decode steps: no length.)
/// `generation`: a generation trace's prefill and decode, which give a generating run's
/// prompt and generated tokens where the config does not.
fn resolve_tokens(
    config: &RunConfig,
    model: Option<&ModelShape>,
    mode: Option<Mode>,
    traced: Option<(u64, String)>,
    generation: Option<&TraceGeneration>,
    warnings: &mut Vec<String>,
) -> (Option<Fact<u64>>, Option<Fact<u64>>) {
    let generates = model.is_some_and(ModelShape::generates) && mode != Some(Mode::Training);
    let (prompt, generated) = resolve_tokens_from(config, model, mode, traced, warnings);
    let Some(traced) = generation.filter(|_| generates) else {
        return (prompt, generated);
    };
    // What the config does not say (directly, or as seq_len with the other part), the
    // trace's prefill and decode shapes measure, in place of a split of the model's context
    // or an assumption; where the config says otherwise, it is followed and the difference
    // said.
    let measured = |what: &str| Source::Measured(format!("trace: {what}: {}", traced.evidence));
    if let Some(p) = config.prompt_tokens
        && p != traced.prefill_tokens
    {
        warnings.push(format!(
            "config prompt_len = {p} but the trace's prefill attention has {} query tokens: the analysis follows the config; check that the trace is of this run",
            traced.prefill_tokens
        ));
    }
    let prompt_set =
        config.prompt_tokens.is_some() || config.seq_len.is_some() && config.new_tokens.is_some();
    let generated_set =
        config.new_tokens.is_some() || config.seq_len.is_some() && config.prompt_tokens.is_some();
    let prompt = if !prompt_set {
        Some(Fact::new(
            traced.prefill_tokens,
            measured("the prefill's queries"),
        ))
    } else {
        prompt
    };
    let generated = if !generated_set {
        Some(Fact::new(
            traced.generated_tokens,
            measured("the prefill's token and one per decode step"),
        ))
    } else {
        generated
    };
    (prompt, generated)
}

/// [`resolve_tokens`] from the config, the model and a non-generating trace's query tokens.
fn resolve_tokens_from(
    config: &RunConfig,
    model: Option<&ModelShape>,
    mode: Option<Mode>,
    traced: Option<(u64, String)>,
    warnings: &mut Vec<String>,
) -> (Option<Fact<u64>>, Option<Fact<u64>>) {
    let generates = model.is_some_and(ModelShape::generates) && mode != Some(Mode::Training);
    let max_positions = model.and_then(|m| m.max_positions);
    let traced = traced
        .filter(|_| !generates)
        .map(|(tokens, evidence)| (tokens, Source::Measured(format!("trace: {evidence}"))));
    if let (Some(seq), Some((tokens, source))) = (config.seq_len, &traced)
        && seq != *tokens
    {
        warnings.push(format!(
            "config seq_len = {seq} but the trace shows {tokens}-token sequences ({source}): the analysis follows the config; check that the trace is of this run"
        ));
    }
    let total = config
        .seq_len
        .map(|s| (s, Source::Config("seq_len".to_owned())))
        .or_else(|| match (config.prompt_tokens, config.new_tokens) {
            (Some(p), Some(n)) => Some((
                p.saturating_add(n),
                Source::Derived("prompt_len + new_tokens".to_owned()),
            )),
            _ => None,
        })
        .or(traced)
        .or_else(|| max_positions.map(|m| (m, Source::Model("max_sequence_length".to_owned()))));
    if let (Some((total, _)), Some(max)) = (&total, max_positions)
        && *total > max
    {
        warnings.push(format!(
            "the sequence ({total} tokens) is longer than the model's {max} positions"
        ));
    }
    if !generates {
        let prompt = config
            .prompt_tokens
            .map(|p| Fact::new(p, Source::Config("prompt_len".to_owned())))
            .or_else(|| total.map(|(t, source)| Fact::new(t, source)));
        return (prompt, None);
    }
    match (config.prompt_tokens, config.new_tokens, total) {
        (Some(p), Some(n), _) => (
            Some(Fact::new(p, Source::Config("prompt_len".to_owned()))),
            Some(Fact::new(n, Source::Config("new_tokens".to_owned()))),
        ),
        (Some(p), None, Some((t, source))) if t > p => (
            Some(Fact::new(p, Source::Config("prompt_len".to_owned()))),
            Some(Fact::new(
                t - p,
                Source::Derived(format!("{source} − prompt_len")),
            )),
        ),
        (None, Some(n), Some((t, source))) if t > n => (
            Some(Fact::new(
                t - n,
                Source::Derived(format!("{source} − new_tokens")),
            )),
            Some(Fact::new(n, Source::Config("new_tokens".to_owned()))),
        ),
        (_, _, Some((t, source))) => {
            let generated = (t / 2).min(ASSUMED_MAX_GENERATED);
            let why = format!(
                "{source} = {t} taken as the context: {} prompt tokens and {generated} generated (at most {ASSUMED_MAX_GENERATED}, a long answer; set prompt_len and new_tokens to say)",
                t - generated
            );
            (
                Some(Fact::new(t - generated, Source::Assumed(why.clone()))),
                Some(Fact::new(generated, Source::Assumed(why))),
            )
        }
        (p, n, None) => (
            p.map(|p| Fact::new(p, Source::Config("prompt_len".to_owned()))),
            n.map(|n| Fact::new(n, Source::Config("new_tokens".to_owned()))),
        ),
    }
}
