"""Records gpt2-tiny-generate.trace.json (gzip it to .json.gz): greedy generation of 12 new
tokens after a 20-token prompt (batch 2) by a 2-layer GPT-2 (random weights, nothing downloaded) on
the CPU, SDPA attention with a KV cache, record_shapes=True. Run by hand with torch and transformers."""
import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
config = GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000, n_positions=256)
model = GPT2LMHeadModel(config).eval()
model.config.pad_token_id = 0
prompt = torch.randint(1, 1000, (2, 20))
with torch.no_grad():
    model.generate(prompt, max_new_tokens=4, do_sample=False)  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                record_shapes=True) as prof:
        with torch.profiler.record_function("ProfilerStep#0"):
            out = model.generate(prompt, max_new_tokens=12, min_new_tokens=12, do_sample=False)
print(out.shape, torch.__version__)
prof.export_chrome_trace("gpt2-tiny-generate.trace.json")
