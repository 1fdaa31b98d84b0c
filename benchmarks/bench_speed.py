"""Training speed at the reference setting, and the paper protocol's step rate.

    python benchmarks/bench_speed.py            # numpy float64 / float32
    python benchmarks/bench_speed.py --torch    # plus a PyTorch nn.LSTM + Adam loop (if installed)

Prints milliseconds per training iteration (data, forward, backward, update;
no evaluation) and sequences per second. Reference setting: batch 32, T in
[20, 30], 8 cells, Adam. Best of --repeats timings of --iters iterations.
"""
import argparse
import dataclasses
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402


def numpy_loop(cfg, seeds, iters):
    """The trainer's inner loop, without evaluation or bookkeeping."""
    params = mp.init_params(cfg, seeds)
    streams = [mp.Stream(cfg, mp.rng_for(s, 1)) for s in seeds]
    opt = mp.adam_init(params) if cfg.optimizer == "adam" else None
    dtype = np.dtype(cfg.dtype)
    t0 = time.perf_counter()
    for _ in range(iters):
        X, L, y_true = mp.stack_trials([s.next() for s in streams], dtype)
        y, cache = mp.forward(cfg, params, X, L)
        err = y - y_true
        grads = mp.backward(cfg, params, cache, mp.loss_grad(cfg, err).astype(dtype))
        mp.update(cfg, params, mp.clip_grads(grads, cfg.clip), opt)
    return time.perf_counter() - t0


def torch_loop(cfg, iters):
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, cfg.hidden)
    head = torch.nn.Linear(cfg.hidden, 1)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=cfg.lr)
    stream = mp.Stream(cfg, mp.rng_for(0, 1))
    t0 = time.perf_counter()
    for _ in range(iters):
        X, L, y = stream.next()
        X, y = torch.from_numpy(X).float(), torch.from_numpy(y).float()
        out, _ = lstm(X)
        pred = torch.sigmoid(head(out[-1]))[:, 0]
        loss = ((pred - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(lstm.parameters()) + list(head.parameters()), cfg.clip)
        opt.step()
    return time.perf_counter() - t0


def sweep_vs_separate(n, iters):
    """N seeds: one lockstep command (both cores) against N separate single-seed
    processes run one after another, all for `iters` iterations."""
    import subprocess
    main = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "multiplication_problem.py")
    common = ["--max-iters", str(iters), "--target-test-mse", "1e-9", "--eval-every", str(iters),
              "--snapshot-every", "0", "--quiet"]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, main, "--seeds", f"0-{n - 1}", *common, "--save-dir", d, "--viz-dir", d], check=True)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in range(n):
            subprocess.run([sys.executable, main, "--seed", str(s), *common, "--save-dir", d], check=True)
        separate = time.perf_counter() - t0
    print(f"  {n} seeds x {iters} iterations: one command {one:.1f} s, {n} separate runs {separate:.1f} s "
          f"-> {separate / one:.1f}x")


def best(fn, repeats):
    return min(fn() for _ in range(repeats))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=1000, help="iterations per timing")
    p.add_argument("--repeats", type=int, default=3, help="timings; the best is reported")
    p.add_argument("--torch", action="store_true", help="also time PyTorch nn.LSTM + Adam (one thread)")
    p.add_argument("--paper", action="store_true", help="also time the paper protocol (1997 cell, online, T=100)")
    p.add_argument("--sweep", type=int, default=0, metavar="N",
                   help="also time N seeds in one command against N separate runs (same iterations, no early stop)")
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, {mp.environment()['processor']}, numpy {np.__version__}")
    base = mp.Config(hidden=8)          # the reference's setting
    print(f"reference setting: batch {base.batch_size}, T in [{base.T_min}, {base.T_max}], "
          f"{base.hidden} cells, Adam; best of {a.repeats} x {a.iters} iterations")
    for dtype in ("float64", "float32"):
        cfg = dataclasses.replace(base, dtype=dtype)
        s = best(lambda: numpy_loop(cfg, [0], a.iters), a.repeats)
        print(f"  numpy {dtype}: {1e3 * s / a.iters:.3f} ms/iteration, {a.iters * cfg.batch_size / s:,.0f} sequences/s")
    if a.torch:
        s = best(lambda: torch_loop(base, a.iters), a.repeats)
        print(f"  torch nn.LSTM + Adam (1 thread): {1e3 * s / a.iters:.3f} ms/iteration, "
              f"{a.iters * base.batch_size / s:,.0f} sequences/s")
    for K in (10, 30):
        cfg = dataclasses.replace(base, snapshot_every=0)
        s = best(lambda: numpy_loop(cfg, list(range(K)), a.iters // 4), a.repeats)
        print(f"  numpy float64, {K} seeds in lockstep: {4e3 * s / a.iters:.3f} ms/iteration "
              f"({4e3 * s / a.iters / K:.3f} ms per seed-iteration)")
    if a.sweep:
        sweep_vs_separate(a.sweep, a.iters)
    if a.paper:
        for task in ("adding", "multiplication"):
            cfg = mp.paper_config(task)
            s = best(lambda: numpy_loop(cfg, list(range(10)), a.iters), a.repeats)
            print(f"  paper protocol {task}, T=100, 10 trials in lockstep: {1e3 * s / a.iters:.3f} ms per "
                  f"on-line step of all trials, {10 * a.iters / s:,.0f} sequences/s")


if __name__ == "__main__":
    main()
