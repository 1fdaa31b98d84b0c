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

print("| run | stop | trials stopped | sequences to stop: mean (min - max) | test wrong of 2560: mean, median (max) "
      "| test MSE: mean (max) | wall time |")
print("|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(ROOT, "results", "paper_*", "sweep.json"))):
    s = json.load(open(path))
    name = os.path.basename(os.path.dirname(path))
    trials = s["trials"]
    keys = mp.stop_keys(trials)
    for k in keys or ["-"]:
        rows = [t["stops"][k] for t in trials if k in t["stops"]]
        label = {"all_correct": "all 2000 correct", "-": "none reached"}.get(k, f"n_seq = {k}")
        if s.get("interrupted"):
            label += f" (interrupted at {max(t['iterations'] for t in trials):,d} sequences)"
        if not rows:
            print(f"| {name} | {label} | 0/{len(trials)} | - | - | - | {s['elapsed_sec']:,.0f} s |")
            continue
        seq = np.array([r["sequences"] for r in rows])
        wrong = np.array([r["test_wrong"] for r in rows])
        mse = np.array([r["test_mse"] for r in rows])
        print(f"| {name} | {label} | {len(rows)}/{len(trials)} | {seq.mean():,.0f} ({seq.min():,d} - {seq.max():,d}) "
              f"| {wrong.mean():.1f}, {np.median(wrong):g} ({wrong.max()}) | {mse.mean():.5f} ({mse.max():.5f}) "
              f"| {s['elapsed_sec']:,.0f} s |")
