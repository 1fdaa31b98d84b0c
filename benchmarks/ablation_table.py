"""Markdown table of the reference-task ablations in results/ablations/*/sweep.json.

    python benchmarks/ablation_table.py
"""
import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = {"forget_bias": 1.0, "hidden": 8, "lr": 5e-3, "init_scale": 0.0}

print("| setting | seeds reaching 0.03 (of 30) | median sequences to target | wall time | command |")
print("|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(ROOT, "results", "ablations", "*", "sweep.json"))):
    s = json.load(open(path))
    c = s["config"]
    name = os.path.basename(os.path.dirname(path))
    flags = " ".join(f"--{k.replace('_', '-')} {c[k]:g}" for k in DEFAULTS if c[k] != DEFAULTS[k] or k == "forget_bias")
    n = s.get("n_trials", len(s["trials"]))
    med = f"{s['median_sequences']:,.0f}" if "median_sequences" in s else "-"
    cmd = f"`python multiplication_problem.py --seeds 0-29 --max-iters 8000 {flags}`"
    print(f"| {name} | {s['reached_target']}/{n} | {med} | {s['elapsed_sec']:.0f} s | {cmd} |")
