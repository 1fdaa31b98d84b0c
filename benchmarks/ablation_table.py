"""Markdown table of the reference-task ablations in results/ablations/*/sweep.json.

    python benchmarks/ablation_table.py
"""
import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = {"hidden": 16, "forget_bias": 3.0, "lr": 5e-3, "init_scale": 0.0}
ORDER = ["reference", "forget_bias_2", "forget_bias_3", "init_0.1", "lr_0.01", "hidden_16",
         "fb3_init_0.1", "fb3_lr_0.01", "fb3_hidden_16", "defaults"]

print("| setting | seeds reaching 0.03 (of 30) | median sequences to target | wall time | command |")
print("|---|---|---|---|---|")
paths = glob.glob(os.path.join(ROOT, "results", "ablations", "*", "sweep.json"))
rank = lambda p: ORDER.index(os.path.basename(os.path.dirname(p))) if os.path.basename(os.path.dirname(p)) in ORDER else 99
for path in sorted(paths, key=rank):
    s = json.load(open(path))
    c = s["config"]
    name = os.path.basename(os.path.dirname(path))
    flags = " ".join(f"--{k.replace('_', '-')} {c[k]:g}" for k in DEFAULTS if c[k] != DEFAULTS[k])
    n = s.get("n_trials", len(s["trials"]))
    med = f"{s['median_sequences']:,.0f}" if "median_sequences" in s else "-"
    cmd = f"`python multiplication_problem.py --seeds 0-29 --max-iters 8000 {flags}`"
    print(f"| {name} | {s['reached_target']}/{n} | {med} | {s['elapsed_sec']:.0f} s | {cmd} |")
