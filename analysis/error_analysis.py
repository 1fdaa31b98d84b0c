"""Where the wrong sequences of a saved sweep are: which targets, which markers.

    python analysis/error_analysis.py results/paper_adding_T100_rerun

Runs the final weights of every trial on 20,000 fresh sequences of the run's
own distribution and splits the sequences with |error| > 0.04 by the size of
|X1 + X2| (adding) or X1 * X2 (multiplication) and by a marked first step.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402


def main(run_dir, n=20_000):
    s = json.load(open(os.path.join(run_dir, "sweep.json")))
    cfg = mp.config_from_dict(s["config"])
    with np.load(os.path.join(run_dir, "sweep_weights.npz")) as z:
        params = {k: z[k] for k in z.files if k != "seeds"}
    X, L, y = mp.make_sequences(np.random.default_rng(2024), n, cfg)
    wrong = np.abs(mp.predict(cfg, params, X, L) - y) > mp.CORRECT_ABS_ERR      # (K, n)
    rows = np.arange(n)
    pos = np.sort(np.argwhere((X[..., 1] == 1).T)[:, 1].reshape(-1, 2), axis=1)
    x1, x2 = X[pos[:, 0], rows, 0], X[pos[:, 1], rows, 0]
    extreme = np.abs(x1 + x2) > 1.6 if cfg.task == "adding" else x1 * x2 > 0.8
    what = "|X1 + X2| > 1.6 (target < 0.1 or > 0.9)" if cfg.task == "adding" else "X1 * X2 > 0.8"
    step0 = X[0, :, 1] == 1
    print(f"{run_dir}: {cfg.task}, T in [{cfg.T_min}, {cfg.T_max}], output {cfg.output}, {n:,d} fresh sequences")
    print(f"sequences with {what}: {extreme.mean():.1%}; with step 0 marked: {step0.mean():.1%}")
    print(f"{'seed':>5} {'wrong':>8} {'wrong if ' + what:>48} {'otherwise':>10} {'of the wrong, extreme':>22}")
    for k, seed in enumerate(s["trials"]):
        w = wrong[k]
        share = (w & extreme).sum() / max(1, w.sum())
        print(f"{seed['seed']:>5} {w.mean():>8.2%} {w[extreme].mean():>48.2%} {w[~extreme].mean():>10.3%} {share:>22.0%}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join("results", "paper_adding_T100_rerun"))
