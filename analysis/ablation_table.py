"""Markdown tables of the ablations: the reference task (results/ablations/),
or with --paper the paper's multiplication generator (results/ablations_paper/).

    python analysis/ablation_table.py [--paper]
"""
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import multiplication_problem as mp  # noqa: E402

DEFAULTS = {k: getattr(mp.Config(), k) for k in ("hidden", "forget_bias", "lr", "init_scale")}
ORDER = ["reference", "forget_bias_2", "forget_bias_3", "init_0.1", "lr_0.01", "hidden_16",
         "fb3_init_0.1", "fb3_lr_0.01", "fb3_hidden_16", "defaults"]



def reference_table():
    out = ["| setting | seeds reaching 0.03 (of 30) | median sequences to target | wall time | command |", "|---|---|---|---|---|"]
    paths = glob.glob(os.path.join(ROOT, "results", "ablations", "*", "sweep.json"))
    rank = lambda p: ORDER.index(os.path.basename(os.path.dirname(p))) if os.path.basename(os.path.dirname(p)) in ORDER else 99
    for path in sorted(paths, key=rank):
        s = json.load(open(path))
        c = s["config"]
        name = os.path.basename(os.path.dirname(path))
        flags = " ".join(f"--{k.replace('_', '-')} {c[k]:g}" for k in DEFAULTS if c[k] != DEFAULTS[k])
        n = s["n_trials"]
        med = f"{s['median_sequences']:,.0f}" if "median_sequences" in s else "-"
        cmd = f"`python multiplication_problem.py --seeds 0-29 --max-iters 8000 {flags}`"
        out.append(f"| {name} | {s['reached_target']}/{n} | {med} | {s['elapsed_sec']:.0f} s | {cmd} |")
    return "\n".join(out)


PAPER_ORDER = ["lstm_h8_fb2_adam", "lstm_adam", "lstm_no_forget_adam", "lstm97_truncated_adam",
               "lstm97_full_adam", "lstm_sgd", "lstm97_truncated_sgd", "lstm97_full_sgd"]


def first_below(curve, level):
    hits = [c[1] for c in curve if c[2] < level]
    return hits[0] if hits else None


def paper_table():
    out = ["| row | cell | forget gate | gradient | optimiser | seeds below MSE 0.0223 (of 10), median sequences "
           "| seeds below 0.0139, median sequences | median final test MSE | wall time |", "|---|---|---|---|---|---|---|---|---|"]
    paths = glob.glob(os.path.join(ROOT, "results", "ablations_paper", "*", "sweep.json"))
    name = lambda p: os.path.basename(os.path.dirname(p))
    for path in sorted(paths, key=lambda p: PAPER_ORDER.index(name(p)) if name(p) in PAPER_ORDER else 99):
        s = json.load(open(path))
        c = s["config"]
        cells = []
        for level in (0.0223, 0.0139):
            hits = [first_below(t["test_curve"], level) for t in s["trials"]]
            hits = [h for h in hits if h is not None]
            cells.append(f"{len(hits)}, {np.median(hits):,.0f}" if hits else "0, -")
        cell = f"lstm {c['hidden']} cells" if c["cell"] == "lstm" else "lstm97 2x2"
        fg = ("yes, bias %g" % c["forget_bias"] if c["forget_gate"] else "no") if c["cell"] == "lstm" else "no"
        grad = "full" if c["cell"] == "lstm" else c["gradient"]
        opt = f"{c['optimizer']} lr {c['lr']:g}, batch {c['batch_size']}"
        mse = np.median([t["final_test_mse"] for t in s["trials"]])
        out.append(f"| {name(path)} | {cell} | {fg} | {grad} | {opt} | {cells[0]} | {cells[1]} | {mse:.4f} "
              f"| {s['elapsed_sec']:,.0f} s |")
    return "\n".join(out)


if __name__ == "__main__":
    print(paper_table() if "--paper" in sys.argv else reference_table())
