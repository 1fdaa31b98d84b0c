"""Markdown summary of the paper-protocol runs in results/paper_*/sweep.json.

    python benchmarks/paper_table.py
"""
import glob
import json
import os

import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import multiplication_problem as mp  # noqa: E402



def table(pattern="paper_*"):
    out = ["| run | stop | trials stopped | sequences to stop: mean (min - max) | test wrong of 2560: mean, median (max) "
           "| test MSE: mean (max) | wall time |", "|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(ROOT, "results", pattern, "sweep.json")), key=order):
        out += rows(path)
    return "\n".join(out)


def order(path):
    """The body text's network first, then the ablations; adding before multiplication; by T."""
    c = json.load(open(path))["config"]
    return c["output"] != "logistic", c["task"] != "adding", c["T_min"]


def rows(path):
    out = []
    print = out.append
    s = json.load(open(path))
    name = os.path.basename(os.path.dirname(path))
    trials = s["trials"]
    keys = mp.stop_keys(trials)
    for k in keys or ["-"]:
        picked = [t["stops"][k] for t in trials if k in t["stops"]]
        label = {"all_correct": "all 2000 correct", "-": "none reached"}.get(k, f"n_seq = {k}")
        if s["interrupted"]:
            label += f" (interrupted at {max(t['iterations'] for t in trials):,d} sequences)"
        if not picked:
            print(f"| {name} | {label} | 0/{len(trials)} | - | - | - | {s['elapsed_sec']:,.0f} s |")
            continue
        seq = np.array([r["sequences"] for r in picked])
        wrong = np.array([r["test_wrong"] for r in picked])
        mse = np.array([r["test_mse"] for r in picked])
        print(f"| {name} | {label} | {len(picked)}/{len(trials)} | {seq.mean():,.0f} ({seq.min():,d} - {seq.max():,d}) "
              f"| {wrong.mean():.1f}, {np.median(wrong):g} ({wrong.max()}) | {mse.mean():.5f} ({mse.max():.5f}) "
              f"| {s['elapsed_sec']:,.0f} s |")
    return out


if __name__ == "__main__":
    print(table())
