#!/usr/bin/env python3
"""Fits docs/scaling.md's step-time model to deploy/bench-scaling's runs.jsonl and prints predictions.

Model (G = 4P bytes of fp32 weights or gradients, E executors, n tokens per executor per step):
  compute    = n * flops_per_token / R            R: one executor's achieved FLOP/s
  broadcast  = b0 + b1*G + b2*G*(E-1)             driver writes the blocks once; each executor fetches G
  aggregate  = a0 + a1*G*E                        E partial gradients into the driver, deserialized and added
  scheduling = s0 + s1*E                          job and task launch
  update     = u*P                                AdamW on the driver
Usage: python3 tools/scaling/fit.py out/scaling/runs.jsonl [--bandwidth_gbit=10,100]
"""
import json
import sys

import numpy as np


def params(args):
    kv = dict(a[2:].split("=") for a in args.split())
    L, C, V, T = (int(kv[k]) for k in ("n_layer", "n_embd", "vocab_size", "block_size")) if "block_size" in kv else \
        (int(kv["n_layer"]), int(kv["n_embd"]), int(kv["vocab_size"]), 256)
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C, L, C, T


def flops_per_token(P, L, C, T, V):
    # nanoGPT's estimate_mfu: 6N + 12 L C T, N without the position embedding
    return 6 * (P - T * C) + 12 * L * C * T


def lstsq(rows, y, names):
    """Least squares with non-negative coefficients (a cost cannot be negative): drop the most negative and refit."""
    A = np.array(rows, dtype=float)
    keep = list(range(A.shape[1]))
    while True:
        c, *_ = np.linalg.lstsq(A[:, keep], np.array(y, dtype=float), rcond=None)
        if (c >= 0).all() or len(keep) == 1:
            break
        keep.pop(int(np.argmin(c)))
    coef = np.zeros(A.shape[1])
    coef[keep] = np.maximum(c, 0)
    pred = A @ coef
    rel = np.abs(pred - y) / np.maximum(np.array(y, dtype=float), 1e-9)
    return dict(zip(names, coef)), pred, rel


def main():
    path = sys.argv[1]
    bw = [10.0, 100.0]
    executor_gflops = None
    for a in sys.argv[2:]:
        if a.startswith("--bandwidth_gbit="):
            bw = [float(x) for x in a.split("=", 1)[1].split(",")]
        elif a.startswith("--executor_gflops="):
            executor_gflops = float(a.split("=", 1)[1])
        else:
            sys.exit(f"unknown argument {a} (expected --bandwidth_gbit=B[,B...] or --executor_gflops=X)")
    runs = []
    with open(path) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    if not runs:
        sys.exit(f"{path}: no runs")
    rows = []
    for r in runs:
        kv = dict(a[2:].split("=") for a in r["args"].split())
        P, L, C, T = params(r["args"])
        V = int(kv["vocab_size"])
        b = r["bench"]
        ms = b["ms"]
        E = r["executors"]
        n = b["batch_tokens"] / E
        rows.append(dict(E=E, model=r["model"], P=P, G=4 * P / 1e9, n=n, F=flops_per_token(P, L, C, T, V), ms=ms,
                         tps=b["tokens_per_s"]))

    print(f"{len(rows)} runs from {path}")
    print(f"{'model':>5} {'E':>2} {'params':>10} {'step':>7} {'fwd+bwd':>8} {'bcast':>6} {'aggr':>6} {'sched':>6}"
          f" {'update':>6} {'spark%':>6} {'tok/s':>7}")
    for r in sorted(rows, key=lambda r: (r["P"], r["E"])):
        m = r["ms"]
        spark = m["broadcast"] + m["aggregation"] + m["scheduling"]
        print(f"{r['model']:>5} {r['E']:>2} {r['P']:>10,} {m['step']:>7.0f} {m['forward'] + m['backward']:>8.0f}"
              f" {m['broadcast']:>6.0f} {m['aggregation']:>6.0f} {m['scheduling']:>6.0f} {m['update']:>6.0f}"
              f" {100 * spark / m['step']:>5.1f}% {r['tps']:>7.0f}")

    # compute: R per executor, from the largest model's runs with E <= the host's 2 cores (beyond that
    # executors share cores); small models run small, less efficient matrix products
    largest = max(r["P"] for r in rows)
    one_core = [r for r in rows if r["E"] <= 2 and r["P"] == largest]
    R = np.median([r["n"] * r["F"] / ((r["ms"]["forward"] + r["ms"]["backward"]) / 1e3) for r in one_core])
    shared = [r for r in rows if r["E"] > 2 and r["P"] == largest]
    R4 = np.median([r["n"] * r["F"] / ((r["ms"]["forward"] + r["ms"]["backward"]) / 1e3) for r in shared]) if shared else R
    bc, bpred, brel = lstsq([[1, r["G"], r["G"] * (r["E"] - 1)] for r in rows], [r["ms"]["broadcast"] for r in rows],
                            ["b0_ms", "b1_ms_per_GB", "b2_ms_per_GB"])
    ac, apred, arel = lstsq([[1, r["G"] * r["E"]] for r in rows], [r["ms"]["aggregation"] for r in rows],
                            ["a0_ms", "a1_ms_per_GB"])
    sc, spred, srel = lstsq([[1, r["E"]] for r in rows], [r["ms"]["scheduling"] for r in rows], ["s0_ms", "s1_ms"])
    uc, upred, urel = lstsq([[r["P"] / 1e6] for r in rows], [r["ms"]["update"] for r in rows], ["u_ms_per_Mparam"])

    print()
    print(f"compute: R = {R / 1e9:.1f} GFLOP/s per one-core executor (E <= 2, largest model);"
          f" {R4 / 1e9:.1f} with 4 executors on 2 cores")
    for name, c, rel in (("broadcast", bc, brel), ("aggregate", ac, arel), ("scheduling", sc, srel), ("update", uc, urel)):
        cs = ", ".join(f"{k} = {v:.3g}" for k, v in c.items())
        print(f"{name}: {cs}   (median |error| {100 * np.median(rel):.0f}%, max {100 * np.max(rel):.0f}%)")
    total_pred = [r["ms"]["forward"] + r["ms"]["backward"] + bpred[i] + apred[i] + spred[i] + upred[i]
                  for i, r in enumerate(rows)]
    err = [abs(p - r["ms"]["step"]) / r["ms"]["step"] for p, r in zip(total_pred, rows)]
    print(f"step time (measured compute + fitted overheads): median |error| {100 * np.median(err):.0f}%,"
          f" max {100 * max(err):.0f}%")
    if executor_gflops:
        R = executor_gflops * 1e9

    # where adding executors stops paying: a fixed global batch N, step(E) = W/E + c0 + c1*E
    print()
    print(f"Predictions for a fixed global batch (strong scaling), executors of {R / 1e9:.0f} GFLOP/s each."
          " On a network of B Gbit/s")
    print("each executor's link carries the weights in (torrent broadcast: G per executor, in parallel) and the")
    print("driver's link the E partial gradients (E x G): 8/B s per GB is added to b1 and a1.")
    b0, b1, b2 = bc["b0_ms"], bc["b1_ms_per_GB"], bc["b2_ms_per_GB"]
    a0, a1 = ac["a0_ms"], ac["a1_ms_per_GB"]
    s0, s1 = sc["s0_ms"], sc["s1_ms"]
    u = uc["u_ms_per_Mparam"]
    cases = [("GPT-2 124M, 0.5M tokens/step", 124_439_808, 12, 768, 1024, 50257, 524_288),
             ("bench model 13.8M, 64K tokens/step", None, 6, 384, 256, 8192, 65_536),
             ("GPT-2 1.5B, 0.5M tokens/step", 1_557_611_200, 48, 1600, 1024, 50257, 524_288)]
    for name, P, L, C, T, V, N in cases:
        if P is None:
            P = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
        G = 4 * P / 1e9
        W = N * flops_per_token(P, L, C, T, V) / R * 1e3
        for gbit in bw:
            net = 8e3 / gbit  # ms per GB on the wire
            c0 = b0 + (b1 + net) * G + a0 + s0 + u * P / 1e6
            c1 = b2 * G + (a1 + net) * G + s1
            best = max(1.0, (W / c1) ** 0.5)
            line = ", ".join(f"E={E}: {(W / E + c0 + c1 * E) / 1e3:.1f} s" for E in (1, 2, 4, 8, 16, 32, 64))
            print(f"  {name}, {gbit:g} Gbit/s: best E ~ {best:.0f}; {line}")


if __name__ == "__main__":
    main()
