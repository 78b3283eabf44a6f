#!/usr/bin/env python3
# Checks sparkgpt's checkpoints against the PyTorch reference model in both directions: a sparkgpt
# checkpoint loaded by Hugging Face names gives logits, and a Hugging Face-layout directory written
# here gives a loss, for the Java tests to compare with (driver/src/test/.../InteropTest).
"""
Usage:
  interop.py logits --checkpoint DIR --out FILE [--batch 2] [--seed 11]
      Loads DIR/model.safetensors and DIR/config.json (a sparkgpt checkpoint) into the reference
      GPT strictly by Hugging Face names (every tensor present, nothing left over but lm_head and
      attention-mask buffers) and writes FILE (safetensors): `inputs` I32 [B, T] (seeded random
      tokens, T = n_positions) and `logits` F32 [B, T, V] computed in float64.
  interop.py hf --out DIR
      Writes a Hugging Face-layout GPT-2 directory the way OpenAI's GPT-2 files on the hub are laid
      out (model.safetensors with names WITHOUT the `transformer.` prefix, plus the `h.N.attn.bias`
      mask buffers; config.json as transformers writes it, without a tokenizer field), and
      DIR/expected.safetensors: `inputs`, `targets` I32 [B, T] (T < n_positions) and `loss` F32 [1].

Fixtures (committed; the Java test always compares against them):
  /usr/bin/python3 tools/reference/interop.py logits --checkpoint driver/src/test/resources/interop/checkpoint \\
      --out driver/src/test/resources/interop/checkpoint_logits.safetensors
  /usr/bin/python3 tools/reference/interop.py hf --out driver/src/test/resources/interop/hf
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_reference import GPT, init_weights, write_safetensors  # noqa: E402

# the Hugging Face directory: sizes that divide nothing, a context shorter than n_positions
HF = dict(n_layer=2, n_head=3, n_embd=24, n_positions=20, vocab_size=71, seed=2024, batch_size=3, block_size=13)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base, out = 8 + n, {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": "<f4", "I32": "<i4"}[e["dtype"]]
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[base + a:base + b], dtype=dtype).reshape(e["shape"]).copy())
    return out


def load_checkpoint(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    assert config["model_type"] == "gpt2" and config["activation_function"] == "gelu_new", config
    assert config["layer_norm_epsilon"] == 1e-5 and config["tie_word_embeddings"] is True, config
    cfg = {k: config[k] for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")}
    state = read_safetensors(os.path.join(directory, "model.safetensors"))
    state = {k: v for k, v in state.items() if k != "lm_head.weight" and not k.endswith(".attn.bias")}
    if not any(k.startswith("transformer.") for k in state):
        state = {"transformer." + k: v for k, v in state.items()}
    model = GPT(cfg)
    model.load_state_dict(state, strict=True)  # every tensor by its Hugging Face name, shapes checked
    return model.double(), cfg


def logits(args):
    model, cfg = load_checkpoint(args.checkpoint)
    g = torch.Generator().manual_seed(args.seed)
    T = cfg["n_positions"]
    inputs = torch.randint(0, cfg["vocab_size"], (args.batch, T), generator=g)
    with torch.no_grad():
        out, _ = model(inputs, inputs)
    write_safetensors(args.out, {"inputs": inputs.to(torch.int32), "logits": out.to(torch.float32).contiguous()},
                      {"format": "pt"})
    print(f"{args.out}: logits of {args.batch} x {T} tokens, max |logit| {out.abs().max().item():.4f}")


def hf(args):
    cfg = dict(HF)
    model = GPT(cfg)
    init_weights(model, cfg["seed"], perturb=True)
    tensors = {n[len("transformer."):]: p.detach().to(torch.float32).contiguous() for n, p in model.named_parameters()}
    P = cfg["n_positions"]
    mask = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
    for i in range(cfg["n_layer"]):  # OpenAI's hub files carry the causal mask as a buffer per layer
        tensors[f"h.{i}.attn.bias"] = mask
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors, {"format": "pt"})
    config = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
              "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
              "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": P, "n_embd": cfg["n_embd"],
              "n_head": cfg["n_head"], "n_layer": cfg["n_layer"], "n_positions": P, "resid_pdrop": 0.1,
              "vocab_size": cfg["vocab_size"]}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    seq = torch.randint(0, cfg["vocab_size"], (cfg["batch_size"], cfg["block_size"] + 1), generator=g)
    inputs, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
    with torch.no_grad():
        _, loss = model.double()(inputs, targets)
    write_safetensors(os.path.join(args.out, "expected.safetensors"),
                      {"inputs": inputs.to(torch.int32), "targets": targets.to(torch.int32),
                       "loss": loss.to(torch.float32).reshape(1)}, {"format": "pt"})
    print(f"{args.out}: loss {loss.item():.6f} on {cfg['batch_size']} x {cfg['block_size']} tokens")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("logits")
    a.add_argument("--checkpoint", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--batch", type=int, default=2)
    a.add_argument("--seed", type=int, default=11)
    b = sub.add_parser("hf")
    b.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    {"logits": logits, "hf": hf}[args.command](args)


if __name__ == "__main__":
    main()
