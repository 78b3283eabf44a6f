#!/usr/bin/env python3
"""Times a nanoGPT-style training step (forward + backward + AdamW) in PyTorch on the CPU, for
side-by-side comparison with sparkgpt's bench and ModelBench on the same config. Prints one JSON line.

Debian's torch does its matmuls in the system OpenBLAS (libblas.so.3). OpenBLAS 0.3.21 does not know
CPUs newer than its release (e.g. Sapphire/Emerald Rapids) and falls back to its Prescott (SSE3)
kernels, 2-4x slower at sgemm than its AVX-512 (SkylakeX) or AVX2 (Haswell) ones. So, unless
OPENBLAS_CORETYPE is set, this script asks OpenBLAS what it detected (in a child process: the choice
is made once, when the library loads) and, on a fallback, picks the kernels the CPU's flags allow."""
import argparse, json, math, os, statistics, subprocess, sys, time

_CORENAME = ("import ctypes; l = ctypes.CDLL('libopenblas.so.0'); l.openblas_get_corename.restype = ctypes.c_char_p;"
             " print(l.openblas_get_corename().decode())")


def openblas_core():
    """OpenBLAS's kernel choice under the current environment, or None without libopenblas."""
    try:
        r = subprocess.run([sys.executable, "-c", _CORENAME], capture_output=True, text=True, timeout=30)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def fix_openblas_coretype():
    """Sets OPENBLAS_CORETYPE when OpenBLAS fell back to generic kernels on a CPU with AVX2 or AVX-512."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return openblas_core()
    core = openblas_core()
    if core is None or core.lower() not in ("prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai"):
        return core
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return core
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif {"avx2", "fma"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    else:
        return core
    print("bench_torch: OpenBLAS detected %s on this CPU; using its %s kernels (OPENBLAS_CORETYPE)"
          % (core, os.environ["OPENBLAS_CORETYPE"]), file=sys.stderr)
    return openblas_core()


OPENBLAS = fix_openblas_coretype()  # before torch loads OpenBLAS

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, C // self.NH).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # what nanoGPT uses on torch >= 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # nanoGPT's slow path
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
            att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).tril().logical_not(), float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, NH, C, T, V):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, NH) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def main():
    p = argparse.ArgumentParser()
    for k, d in dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=8192, batch_size=4,
                     steps=10, warmup=2, threads=2, world_size=1).items():
        p.add_argument("--" + k, type=int, default=d)
    a = p.parse_args()
    if a.world_size > 1:
        # PyTorch's data parallelism as TorchDistributor runs it on CPUs: world_size processes, DDP over gloo,
        # each rank batch_size / world_size sequences of the same global batch, the all-reduce overlapping
        # the backward pass in DDP's buckets
        import socket
        import torch.multiprocessing as mp
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
        mp.spawn(run, args=(a, port), nprocs=a.world_size, join=True)
    else:
        run(0, a, None)


def run(rank, a, port):
    ddp = port is not None
    if ddp:
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=a.world_size)
    torch.set_num_threads(a.threads)  # Debian's torch starts with 1 thread here, whatever the core count
    torch.autograd.set_detect_anomaly(False)
    # Denormal floats: from the 4th step on this model's random-token training, values small enough to be
    # subnormal reach OpenBLAS and the elementwise kernels, and each step took 7-25 s instead of 3.2-3.7 s
    # (x86's slow path for subnormals). Flushing them to zero (FTZ/DAZ, as GPUs and most trainers' CPU
    # settings do) keeps every step at ~3.5-4 s: PyTorch is timed at its best. sparkgpt's steps did not slow.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = GPT(a.n_layer, a.n_head, a.n_embd, a.block_size, a.vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    m = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    opt = torch.optim.AdamW(m.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    per_rank = a.batch_size // a.world_size
    times = []
    for s in range(a.warmup + a.steps):
        idx = torch.randint(0, a.vocab_size, (per_rank, a.block_size + 1))
        if ddp:
            dist.barrier()  # every rank starts the step together: rank 0's time is the step's
        t0 = time.perf_counter()
        loss = m(idx[:, :-1], idx[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(dt)
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return
    med = statistics.median(times)
    tok = a.batch_size * a.block_size / med
    flops_per_token = 6 * (n_params - a.block_size * a.n_embd) + 12 * a.n_layer * a.n_embd * a.block_size
    print(json.dumps(dict(impl="pytorch " + torch.__version__ + (" DDP gloo x%d" % a.world_size if ddp else ""),
                          median_ms=round(med * 1e3, 1),
                          min_ms=round(min(times) * 1e3, 1), tokens_per_s=round(tok),
                          gflops=round(flops_per_token * tok / 1e9, 1), threads=torch.get_num_threads(),
                          world_size=a.world_size,
                          blas="openblas " + OPENBLAS if OPENBLAS else "not openblas")))


if __name__ == "__main__":
    main()
