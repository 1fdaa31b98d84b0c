"""Check a PyTorch LSTM against this reference, and the forum question answered.

    python multiplication_problem.py                             # trains run/ (writes run/weights_torch.npz too)
    python multiplication_problem.py --export-data test_set.npz  # that run's held-out test set, batch-first
    python examples/pytorch_check.py --data test_set.npz         # our weights in nn.LSTM: both test MSEs

    python examples/pytorch_check.py --forum                     # the forum configuration, and what fixes it

PyTorch is optional for this project and never in requirements.txt
(pip install torch). Data, stopping rule and test set come from
multiplication_problem.py, so both frameworks are judged by the same code.
"""
import argparse
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import multiplication_problem as mp  # noqa: E402
from forum_table import FORUM, OPTIMISERS, forum_rows, forum_table  # noqa: E402  (the rows and their table)

try:
    import torch
    from torch_net import Net, from_time_major  # noqa: E402  (analysis/: the network the tests and the benchmark use too)
except ImportError:
    torch = None


# ----------------------------------------------------------------------------
# 1. our trained weights in torch: the same test MSE

def read_export(path):
    """X, lengths, y and the generator settings of a --export-data file (RunError for any other file)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["X"], z["lengths"], z["y"], json.loads(str(z["generator"]))
    except Exception as e:
        raise mp.RunError(f"{path} is not a data export of multiplication_problem.py --export-data "
                          f"({type(e).__name__})")


def check(run_dir, data_path):
    cfg, params, history, _ = mp.load_run(run_dir)
    weights = os.path.join(run_dir, "weights_torch.npz")
    if not os.path.exists(weights):
        raise mp.RunError(f"{weights} is missing (torch has no 1997 cell: only --cell lstm runs with a forget "
                          "gate are exported); train one with: python multiplication_problem.py")
    X, lengths, y, gen = read_export(data_path)
    lengths_from = ("eval_T",) if cfg.dist == "reference" else ("T_min", "T_max")   # as make_test_set
    fields = {f.name: f for f in dataclasses.fields(mp.Config)}
    differ = [k for k in ("task", "dist") + lengths_from if gen[k] != getattr(cfg, k)]
    if differ:
        raise mp.RunError(f"{data_path} holds other sequences than the run's: "
                          + ", ".join(f"{mp.flag_name(fields[k])} {gen[k]} (the run: {getattr(cfg, k)})" for k in differ)
                          + "; export with the run's flags")
    run_test_set = gen["n"] == cfg.n_test and gen["seed"] == cfg.test_seed
    net = Net(cfg.hidden)
    with np.load(weights) as z:
        net.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    with torch.no_grad():
        theirs = net(torch.from_numpy(X).float(), torch.from_numpy(lengths)).double().numpy()
    ours = mp.predict(cfg, params, X.transpose(1, 0, 2), lengths)[0]
    print(f"run {run_dir}/: {cfg.task}, lstm {cfg.hidden} cells; data {data_path}: {len(y)} sequences"
          + (" (the run's held-out test set)" if run_test_set else ""))
    print(f"  test MSE, this project (NumPy float64): {np.mean((ours - y) ** 2):.8f}"
          + (f"   (history.json: {history['final_test_mse']:.8f})" if run_test_set else ""))
    print(f"  test MSE, torch nn.LSTM (float32):      {np.mean((theirs - y) ** 2):.8f}")
    print(f"  largest |prediction difference|:         {np.abs(ours - theirs).max():.2e} (float32 rounding)")


# ----------------------------------------------------------------------------
# 2. the forum configuration and the smallest changes that make it learn

def forum_trial(spec, budget, test, seed, T=100):
    """One trial of a FORUM row: train on the paper's adding sequences at minimal length T,
    `batch` sequences per step, until the paper's stopping rule or `budget`
    sequences. Tracks the forum's measures (squared error < 0.04, running mean
    since the start) beside the paper's (|error| < 0.04 on each of the last 2000)."""
    _, layers, cells, forget_bias, optimiser, lr, batch, clip = spec
    torch.manual_seed(seed)
    net = Net(cells, layers, forget_bias)
    opt = getattr(torch.optim, OPTIMISERS[optimiser])(net.parameters(), lr=lr)
    cfg = mp.paper_config("adding", T=T, batch_size=batch)
    stream = mp.Stream(cfg, mp.rng_for(seed, 1))        # every row sees the same sequences in the same order
    recent, n_wrong, active = np.full((1, mp.WINDOW), np.inf), np.array([mp.WINDOW]), np.ones(1, bool)
    forum_ok = np.zeros(mp.WINDOW, bool)
    total_sq, stop_at = 0.0, None
    t0 = time.perf_counter()
    seen = 0
    while seen < budget:
        X, L, y = stream.next()                         # X (T, B, 2) time-major
        pred = net(*from_time_major(X, L))
        loss = ((pred - torch.from_numpy(y).float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        err = pred.detach().double().numpy() - y        # (B,) errors before this update
        total_sq += float((err ** 2).sum())
        forum_ok[(seen + np.arange(batch)) % mp.WINDOW] = err ** 2 < 0.04
        mp.window_push(recent, n_wrong, seen, np.abs(err)[None], active)
        seen += batch
        if seen % 50_000 < batch:
            print(f"  seed {seed}: {seen:,d} sequences, {mp.WINDOW - n_wrong[0]:,d} of the last 2000 correct, "
                  f"{time.perf_counter() - t0:,.0f} s", flush=True)
        if mp.paper_stop_points("adding", recent, n_wrong, ())["all_correct"][0]:
            stop_at = seen
            break
    wall = time.perf_counter() - t0
    X, L, y = test
    with torch.no_grad():
        p = net(*from_time_major(X, L)).double().numpy()
    return {"seed": seed, "sequences": seen, "stopped": stop_at is not None,
            "forum_running_mse": total_sq / seen, "forum_correct_of_2000": int(forum_ok[:min(seen, mp.WINDOW)].sum()),
            "paper_correct_of_2000": int(mp.WINDOW - n_wrong[0]),
            "test_wrong": int((np.abs(p - y) > mp.CORRECT_ABS_ERR).sum()), "test_mse": float(np.mean((p - y) ** 2)),
            "wall_sec": wall}


def forum(budget, out, picked, seeds, T=100):
    """Run the trials of the picked FORUM rows (1-based) at minimal length T that `out` does not hold yet."""
    torch.set_num_threads(1)
    saved = {"rows": []}
    if os.path.exists(out):
        with open(out) as f:
            saved = json.load(f)
        held = saved.get("T", 100)
        if held != T:
            raise mp.UsageError(f"--T: {out} holds trials at T = {held}; give that T or another --out")
    rows = forum_rows(saved)
    for n in picked:                                    # every refusal before any training
        if rows[n - 1]["trials"] and rows[n - 1]["budget"] != budget:
            raise mp.UsageError(f"--sequences: row {n} was run with {rows[n - 1]['budget']:,d}; give that budget")
    test = mp.make_test_set(mp.paper_config("adding", T=T))
    for n in picked:
        row = rows[n - 1]
        row["budget"] = budget
        for seed in seeds:
            if any(t["seed"] == seed for t in row["trials"]):
                continue                                # trials already in `out` are kept (re-run: delete the file)
            row["trials"].append(forum_trial(FORUM[n - 1], budget, test, seed, T))
            row["trials"].sort(key=lambda t: t["seed"])
            t = row["trials"][-1]
            print(f"row {n} seed {seed}: {t['sequences']:,d} sequences, stopped: {t['stopped']}, "
                  f"{t['wall_sec']:.0f} s", flush=True)
            mp.save_json(out, {"T": T, "torch": torch.__version__, "env": mp.environment(),
                               "rows": [r for r in rows if r["trials"]]})
    print(forum_table(rows))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a trained lstm run (default run)")
    p.add_argument("--data", help="sequences written by --export-data (default test_set.npz)")
    p.add_argument("--forum", action="store_true", help="run the forum configuration and the fixes (adding, T = 100)")
    p.add_argument("--T", type=int, help="--forum: minimal sequence length (default 100)")
    p.add_argument("--rows", help=f"--forum: which rows, e.g. 6-9 (default 1-{len(FORUM)})")
    p.add_argument("--seeds", help="--forum: trials, e.g. 0-2 (default 0)")
    p.add_argument("--sequences", type=int, help="--forum: budget per trial (default 150000)")
    p.add_argument("--out", help="--forum: results file (default results/pytorch_forum/forum.json, "
                                  "forum_T<T>.json for another T)")
    a = p.parse_args()
    if torch is None:
        print("pytorch_check.py: error: PyTorch is not installed (pip install torch); this project needs it only here",
              file=sys.stderr)
        return 2
    mode_flags = {True: ("run", "data"), False: ("T", "rows", "seeds", "sequences", "out")}   # flags of the other mode
    for name in mode_flags[a.forum]:
        if getattr(a, name) is not None:
            print(f"pytorch_check.py: error: --{name}: applies {'without' if a.forum else 'with'} --forum only",
                  file=sys.stderr)
            return 2
    defaults = {"run": "run", "data": "test_set.npz", "T": 100, "rows": f"1-{len(FORUM)}", "seeds": "0",
                "sequences": 150_000}
    for name, value in defaults.items():
        if getattr(a, name) is None:
            setattr(a, name, value)
    if a.forum:
        if not mp.MIN_T <= a.T <= 10_000:
            print(f"pytorch_check.py: error: --T: must be in [{mp.MIN_T}, 10000], got {a.T}", file=sys.stderr)
            return 2
        if a.out is None:
            a.out = "results/pytorch_forum/" + ("forum.json" if a.T == 100 else f"forum_T{a.T}.json")
        if not 1 <= a.sequences <= 10_000_000:
            print(f"pytorch_check.py: error: --sequences: must be in [1, 10000000], got {a.sequences}", file=sys.stderr)
            return 2
        try:
            picked = mp.parse_seeds(a.rows, "--rows")
            seeds = mp.parse_seeds(a.seeds)
        except mp.UsageError as e:
            print(f"pytorch_check.py: error: {e}", file=sys.stderr)
            return 2
        if not all(1 <= n <= len(FORUM) for n in picked):
            print(f"pytorch_check.py: error: --rows: rows are 1-{len(FORUM)}, got {a.rows}", file=sys.stderr)
            return 2
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        try:
            forum(a.sequences, a.out, picked, seeds, a.T)
        except mp.UsageError as e:
            print(f"pytorch_check.py: error: {e}", file=sys.stderr)
            return 2
        return 0
    for path, what in ((a.data, "python multiplication_problem.py --export-data " + a.data),
                       (os.path.join(a.run, "history.json"), "python multiplication_problem.py --save-dir " + a.run)):
        if not os.path.exists(path):
            print(f"pytorch_check.py: error: {path} is missing; make it with: {what}", file=sys.stderr)
            return 2
    try:
        check(a.run, a.data)
    except mp.RunError as e:
        print(f"pytorch_check.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
