//! How many weight bytes a model stores and how many one step reads.

use advisor_core::{Precision, WeightFormat};

use crate::workload::Workload;

/// Bytes per element of a precision (`int4` is half a byte).
pub(crate) fn bytes(precision: Precision) -> f64 {
    precision.bytes_per_element()
}

/// The weights' split: what is quantized, what stays 16-bit, and the mixture-of-experts part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeightSplit {
    /// Parameters stored at the weight format (everything but embeddings and head).
    pub body: f64,
    /// Embedding table(s) and an untied head, kept at 16-bit when the body is quantized.
    pub embeddings: f64,
    /// One copy of the `vocab × hidden` matrix: the head multiplies with it every token.
    pub head: f64,
    /// Bytes per body weight.
    pub body_bytes: f64,
    /// Bytes per embedding weight.
    pub embedding_bytes: f64,
    /// Parameters of one expert across all layers (0 without mixture of experts).
    pub per_expert: f64,
    /// Experts per layer and experts per token.
    pub experts: Option<(f64, f64)>,
}

impl WeightSplit {
    pub(crate) fn of(workload: &Workload) -> WeightSplit {
        let model = &workload.model;
        let settings = &workload.settings;
        let parameters = model.parameters.unwrap_or(0) as f64;
        let embeddings = model.embedding_parameters() as f64;
        let head = match (model.vocab_size, model.hidden_size) {
            (Some(v), Some(h)) if model.generates() => (v as f64 * h as f64).min(embeddings),
            _ => 0.0,
        };
        // 2:4 sparsity stores two of every four weights and a 2-bit index for each
        // (NVIDIA, "NVIDIA A100 Tensor Core GPU Architecture", 2020, "Fine-grained structured
        // sparsity"; cuSPARSELt's compressed format): `(2·bits + 2·2) / (4·bits)` of the
        // dense size, 0.5625 at 16 bits.
        let bits = settings.weights.bits_per_weight();
        let body_bytes = if settings.sparse_2_4 {
            (2.0 * bits + 4.0) / 4.0 / 8.0
        } else {
            bits / 8.0
        };
        // Quantization recipes on GPUs (GPTQ, AWQ, bitsandbytes, torchao) leave the embedding
        // and the head in 16-bit; dynamic quantization on a CPU (`quantize_dynamic` on
        // `nn.Linear`, onnxruntime's int8) leaves them at the compute precision, fp32 as a
        // rule. Float weights keep them at the weight precision.
        // fp8 checkpoints (llm-compressor's FP8 schemes, vLLM's quantization="fp8") quantize
        // the Linear layers only: the embedding and the head stay 16-bit.
        let embedding_bytes = match (settings.weights, &workload.device) {
            (WeightFormat::Float(Precision::Fp8), _) => bytes(settings.compute).max(2.0),
            (WeightFormat::Float(p), _) => bytes(p),
            (_, crate::workload::DeviceModel::Cpu(_)) => bytes(settings.compute).max(2.0),
            // W8A8 (SmoothQuant, int8 compute) quantizes the Linear layers' inputs and
            // weights only: the embedding and the head stay 16-bit there too.
            (WeightFormat::Int8 | WeightFormat::Int4 | WeightFormat::W8A8, _) => 2.0,
        };
        let (per_expert, experts) = match (model.num_experts, model.experts_per_token) {
            (Some(e), Some(k)) if e > k && k > 0 => {
                let active = model
                    .active_parameters
                    .unwrap_or(model.parameters.unwrap_or(0));
                let per = (parameters - active as f64).max(0.0) / (e - k) as f64;
                (per, Some((e as f64, k as f64)))
            }
            _ => (0.0, None),
        };
        WeightSplit {
            body: (parameters - embeddings).max(0.0),
            embeddings,
            head,
            body_bytes,
            embedding_bytes,
            per_expert,
            experts,
        }
    }

    /// Bits per embedding weight, for people.
    pub(crate) fn embedding_bits(&self) -> f64 {
        self.embedding_bytes * 8.0
    }

    /// Bytes the weights take in memory.
    pub(crate) fn stored_bytes(&self) -> f64 {
        self.body * self.body_bytes + self.embeddings * self.embedding_bytes
    }

    /// Expected experts a layer reads when `tokens` tokens are routed, `k` each, uniformly:
    /// `E · (1 − (1 − k/E)^tokens)` (the coverage of the experts; Fedus et al. 2021 and the
    /// Mixtral report route top-k per token).
    pub(crate) fn experts_read(&self, tokens: f64) -> Option<f64> {
        let (e, k) = self.experts?;
        Some(e * (1.0 - (1.0 - k / e).powf(tokens.max(1.0))))
    }

    /// Weight bytes one forward over `tokens` tokens reads: the body (only the experts the
    /// tokens are routed to), and the head; the input embedding is gathered, not read whole.
    pub(crate) fn read_bytes(&self, tokens: f64) -> f64 {
        let body = match (self.experts_read(tokens), self.experts) {
            (Some(read), Some((e, _))) => {
                let experts_total = self.per_expert * e;
                (self.body - experts_total).max(0.0) + self.per_expert * read
            }
            _ => self.body,
        };
        body * self.body_bytes + self.head * self.embedding_bytes
    }

    /// Parameters one token multiplies with: the active body and the head (2 FLOPs each).
    pub(crate) fn matmul_parameters(&self, active_body: f64) -> f64 {
        active_body + self.head
    }

    /// The active body parameters per token (routed experts only).
    pub(crate) fn active_body(&self) -> f64 {
        match self.experts {
            Some((e, k)) => (self.body - self.per_expert * (e - k)).max(0.0),
            None => self.body,
        }
    }
}
