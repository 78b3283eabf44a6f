#!/usr/bin/env python3
# Independent GPT-2 reference in PyTorch that writes the golden fixtures the Java worker is tested
# against (the role of llm.c's train_gpt2.py): logits, loss, every gradient, 10 AdamW steps.
"""
Usage: /usr/bin/python3 tools/reference/gpt2_reference.py --out worker/src/test/resources/fixtures

The model is written from scratch (nanoGPT-style), not loaded from transformers, but its parameter
names and layouts are Hugging Face GPT-2's, so the fixtures double as tiny HF checkpoints. The
reference is computed in float64 from float32-representable weights; expected values are stored
as float32. Everything is seeded and single-threaded, so reruns give identical bytes.
"""
import argparse
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> the model and training settings of one fixture. 'tiny' has block_size < n_positions so
# only a prefix of wpe is used (its gradient tail must be 0); 'odd' has sizes that divide nothing
# (head size 16 but 3 heads, vocab 131, T 17). 'tiny' clips at every step; 'odd' has a clip
# threshold inside the range of its gradient norms, so some steps are scaled and some are not
# (an implementation that forgets clip_grad_norm_'s min(1, .) clamp fails it).
FIXTURES = {
    "tiny": dict(n_layer=2, n_head=4, n_embd=64, n_positions=32, vocab_size=256,
                 block_size=16, batch_size=4, seed=1337,
                 adamw=dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0)),
    "odd": dict(n_layer=2, n_head=3, n_embd=48, n_positions=24, vocab_size=131,
                block_size=17, batch_size=3, seed=4242,
                adamw=dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.4)),
}
STEPS = 10
PERTURB_STD = 0.02  # noise added to biases and LayerNorm params so their gradients are exercised


class Conv1D(nn.Module):
    """HF GPT-2's Conv1D: a linear layer whose weight is stored [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head = n_head
        self.c_attn = Conv1D(n_embd, 3 * n_embd)  # output columns: [q | k | v], each C wide
        self.c_proj = Conv1D(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        # heads are consecutive hs-wide column slices: (B,T,C) -> (B,NH,T,hs)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = Conv1D(n_embd, 4 * n_embd)
        self.c_proj = Conv1D(4 * n_embd, n_embd)

    def forward(self, x):
        # GPT-2's GELU is the tanh approximation (Hendrycks & Gimpel 2016, eq. in section 2)
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg["n_embd"]
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg["vocab_size"], C),
            wpe=nn.Embedding(cfg["n_positions"], C),
            h=nn.ModuleList([Block(C, cfg["n_head"]) for _ in range(cfg["n_layer"])]),
            ln_f=nn.LayerNorm(C, eps=1e-5),
        ))
        # lm_head is tied to wte and is not a parameter of its own (HF does not store it either)

    def forward(self, idx, targets):
        B, T = idx.shape
        tr = self.transformer
        pos = torch.arange(T, device=idx.device)
        x = tr.wte(idx) + tr.wpe(pos)
        for block in tr.h:
            x = block(x)
        logits = F.linear(tr.ln_f(x), tr.wte.weight)
        loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))  # mean over B*T
        return logits, loss


def init_weights(model, seed, perturb):
    """GPT-2/nanoGPT init drawn in float32 from one generator, in named_parameters order."""
    g = torch.Generator().manual_seed(seed)
    n_layer = model.cfg["n_layer"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "transformer.ln_f.weight":
                p.fill_(1.0)
            elif p.dim() == 1:
                p.zero_()
            elif name.endswith("c_proj.weight"):
                # GPT-2 paper: scale residual-path projections by 1/sqrt(N residual layers)
                p.copy_(torch.randn(p.shape, generator=g) * (0.02 / math.sqrt(2 * n_layer)))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        if perturb:
            # A zero bias or a unit LN gain hides transposition and indexing bugs in their
            # gradients; small noise keeps the model near GPT-2's init but makes them visible.
            for name, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn(p.shape, generator=g) * PERTURB_STD)


def make_batch(cfg):
    """Random tokens: inputs/targets are a length T+1 sequence shifted by one."""
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    B, T = cfg["batch_size"], cfg["block_size"]
    seq = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=g)
    return seq[:, :T].contiguous(), seq[:, 1:].contiguous()


def write_safetensors(path, tensors, metadata):
    """Minimal safetensors writer: u64 LE header length, JSON header, raw LE data in order.

    The header is padded with spaces to a multiple of 8 bytes, as the reference implementation
    does, so that the data section is aligned."""
    dtypes = {torch.float32: ("F32", 4), torch.int32: ("I32", 4)}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors.items():
        dtype, size = dtypes[t.dtype]
        t = t.contiguous().cpu()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        assert len(data) == t.numel() * size
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)  # never leave a half-written fixture behind


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def write_llmc_model(path, tensors, cfg):
    """llm.c's model file (train_gpt2.py write_model): 256 int32 header (magic 20240326, version 3 =
    fp32 with the vocabulary padded to a multiple of 128, maxT, V, L, NH, C, Vp), then every
    tensor in llm.c's order, grouped by kind across layers, matmul weights as nn.Linear [out, in]."""
    L, C, V = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"]
    Vp = (V + 127) // 128 * 128
    header = torch.zeros(256, dtype=torch.int32)
    header[:8] = torch.tensor([20240326, 3, cfg["n_positions"], V, L, cfg["n_head"], C, Vp])
    wte = torch.zeros(Vp, C)
    wte[:V] = tensors["transformer.wte.weight"]
    order = [wte, tensors["transformer.wpe.weight"]]
    for kind, transpose in [("ln_1.weight", False), ("ln_1.bias", False), ("attn.c_attn.weight", True),
                            ("attn.c_attn.bias", False), ("attn.c_proj.weight", True), ("attn.c_proj.bias", False),
                            ("ln_2.weight", False), ("ln_2.bias", False), ("mlp.c_fc.weight", True),
                            ("mlp.c_fc.bias", False), ("mlp.c_proj.weight", True), ("mlp.c_proj.bias", False)]:
        for i in range(L):
            t = tensors[f"transformer.h.{i}.{kind}"]
            order.append(t.t() if transpose else t)
    order += [tensors["transformer.ln_f.weight"], tensors["transformer.ln_f.bias"]]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header.numpy().astype("<i4").tobytes())
        for t in order:
            f.write(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
    os.replace(tmp, path)


def build_fixture(name, spec, out_dir):
    cfg = dict(spec)
    cfg["perturbed"] = True
    cfg["steps"] = STEPS
    opt = cfg["adamw"]

    model = GPT(cfg)  # float32: the initial weights must be exactly representable in F32
    init_weights(model, cfg["seed"], cfg["perturbed"])
    initial = {n: f32(p) for n, p in model.named_parameters()}
    model = model.double()
    inputs, targets = make_batch(cfg)

    # AdamW: decoupled weight decay on the 2-D weights only (wte, wpe, the matmul weights)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": opt["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"])
    params = list(model.parameters())

    losses, grad_norms = [], []
    expected = {}
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        logits, loss = model(inputs.long(), targets.long())
        loss.backward()
        if step == 0:
            # unclipped gradients of the initial loss
            expected["logits"] = f32(logits)
            expected["loss"] = f32(loss.reshape(1))
            for n, p in model.named_parameters():
                expected["grad." + n] = f32(p.grad)
        norm = torch.nn.utils.clip_grad_norm_(params, opt["grad_clip"])
        losses.append(loss.item())
        grad_norms.append(norm.item())
        optimizer.step()
    expected["losses"] = torch.tensor(losses, dtype=torch.float32)
    expected["grad_norms"] = torch.tensor(grad_norms, dtype=torch.float32)
    for n, p in model.named_parameters():
        expected["final." + n] = f32(p)

    cfg["params"] = [{"name": n, "shape": list(t.shape)} for n, t in initial.items()]
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    meta = {"format": "pt"}
    write_safetensors(os.path.join(d, "model.safetensors"), initial, meta)
    write_safetensors(os.path.join(d, "batch.safetensors"),
                      {"inputs": inputs.to(torch.int32), "targets": targets.to(torch.int32)}, meta)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, meta)
    if name == "odd":  # V 131 pads to 256: the reader must use the header's Vp, not guess
        write_llmc_model(os.path.join(d, "model_llmc.bin"), initial, cfg)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    clipped = [i for i, n in enumerate(grad_norms) if n > opt["grad_clip"]]
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    nparams = sum(t.numel() for t in initial.values())
    print(f"{name}: {nparams} params, {size / 1024:.0f} KiB, initial loss {losses[0]:.6f} "
          f"(ln V = {math.log(cfg['vocab_size']):.6f})")
    print(f"  losses     " + " ".join(f"{x:.6f}" for x in losses))
    print(f"  grad norms " + " ".join(f"{x:.6f}" for x in grad_norms))
    print(f"  clipping (norm > {opt['grad_clip']}) triggered at steps {clipped if clipped else 'none'}")
    return clipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="fixtures directory, one subfolder per fixture")
    ap.add_argument("--only", choices=sorted(FIXTURES), help="write just this fixture")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)  # nothing should draw from the global generator; pin it anyway
    clipped_steps = {}
    for name, spec in FIXTURES.items():
        if args.only in (None, name):
            clipped_steps[name] = build_fixture(name, spec, args.out)
    if args.only is None:
        # the fixtures must cover both branches of clipping, or a broken clip still passes
        if not any(clipped_steps.values()):
            raise SystemExit("no fixture step triggered gradient clipping; lower a grad_clip")
        if all(len(c) == STEPS for c in clipped_steps.values()):
            raise SystemExit("every fixture clips at every step; raise a grad_clip")


if __name__ == "__main__":
    main()
