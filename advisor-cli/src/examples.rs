//! Example models embedded in the binary, each with the run configuration of a typical first
//! deployment, so `advisor analyze --example NAME` works with nothing but the binary.

/// One embedded example.
pub(crate) struct Example {
    /// Name on the command line.
    pub name: &'static str,
    /// The Hugging Face model id the config comes from.
    pub model_id: &'static str,
    /// The published `config.json`.
    pub config_json: &'static str,
    /// The scenario: run configuration applied unless the user sets the key.
    pub scenario: &'static [(&'static str, &'static str)],
    /// What the scenario stands for.
    pub description: &'static str,
}

pub(crate) const EXAMPLES: &[Example] = &[
    Example {
        name: "bert-base",
        model_id: "google-bert/bert-base-uncased",
        config_json: include_str!("../models/bert-base-uncased.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "128"),
            ("precision", "fp32"),
        ],
        description: "BERT encoder serving single 128-token requests in fp32",
    },
    Example {
        name: "distilbert-base",
        model_id: "distilbert/distilbert-base-uncased",
        config_json: include_str!("../models/distilbert-base-uncased.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "128"),
            ("precision", "fp32"),
        ],
        description: "DistilBERT encoder serving single 128-token requests in fp32",
    },
    Example {
        name: "roberta-base",
        model_id: "FacebookAI/roberta-base",
        config_json: include_str!("../models/roberta-base.json"),
        scenario: &[
            ("mode", "training"),
            ("batch_size", "32"),
            ("seq_len", "512"),
            ("precision", "fp32"),
        ],
        description: "RoBERTa fine-tuning at batch 32 and 512 tokens in fp32",
    },
    Example {
        name: "all-minilm-l6-v2",
        model_id: "sentence-transformers/all-MiniLM-L6-v2",
        config_json: include_str!("../models/all-minilm-l6-v2.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "256"),
            ("precision", "fp32"),
            ("num_threads", "1"),
        ],
        description: "sentence-embedding encoder on one CPU thread, single 256-token requests",
    },
    Example {
        name: "gpt2",
        model_id: "openai-community/gpt2",
        config_json: include_str!("../models/gpt2.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "1024"),
            ("precision", "fp32"),
            ("kv_cache", "false"),
        ],
        description: "GPT-2 generating 1024 tokens in fp32 with a hand-written loop that has no KV cache",
    },
    Example {
        name: "gpt2-medium",
        model_id: "openai-community/gpt2-medium",
        config_json: include_str!("../models/gpt2-medium.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "1024"),
            ("precision", "fp32"),
        ],
        description: "GPT-2 medium generating at batch 1 in fp32",
    },
    Example {
        name: "qwen2-1.5b",
        model_id: "Qwen/Qwen2-1.5B",
        config_json: include_str!("../models/qwen2-1.5b.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "4096"),
            ("precision", "bf16"),
            ("flash_attention", "false"),
        ],
        description: "Qwen2-1.5B serving 4096-token contexts at batch 1 in bf16 without FlashAttention",
    },
    Example {
        name: "llama-2-7b",
        model_id: "meta-llama/Llama-2-7b-hf",
        config_json: include_str!("../models/llama-2-7b.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "4096"),
            ("precision", "fp16"),
            ("flash_attention", "false"),
        ],
        description: "Llama-2-7B serving 4096-token contexts at batch 1 in fp16 without FlashAttention",
    },
    Example {
        name: "llama-2-13b",
        model_id: "meta-llama/Llama-2-13b-hf",
        config_json: include_str!("../models/llama-2-13b.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "4096"),
            ("precision", "fp16"),
        ],
        description: "Llama-2-13B serving at batch 1 in fp16",
    },
    Example {
        name: "mistral-7b",
        model_id: "mistralai/Mistral-7B-v0.1",
        config_json: include_str!("../models/mistral-7b-v0.1.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "8192"),
            ("precision", "bf16"),
            ("flash_attention", "false"),
        ],
        description: "Mistral-7B serving 8192-token contexts at batch 1 in bf16 without FlashAttention",
    },
    Example {
        name: "mixtral-8x7b",
        model_id: "mistralai/Mixtral-8x7B-v0.1",
        config_json: include_str!("../models/mixtral-8x7b-v0.1.json"),
        scenario: &[
            ("mode", "inference"),
            ("batch_size", "1"),
            ("seq_len", "4096"),
            ("precision", "bf16"),
        ],
        description: "Mixtral-8x7B mixture-of-experts serving at batch 1 in bf16",
    },
];

/// Finds an example by name.
pub(crate) fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|example| example.name == name)
}
