"""The forget-gate LSTM's screen of recipes at the paper's lags: one row per run
folder under results/screen_T500/, generated from its sweep.json (docs/results.md,
block screen-T500; python analysis/readme_tables.py rewrites it).

    python analysis/screen_table.py [results/screen_T500]
"""
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import multiplication_problem as mp  # noqa: E402
from network_state import first_below_half_chance  # noqa: E402


def recipe(c):
    """What a run varies, in the screen's words."""
    forget = f"chrono (T {c['chrono_T'] or c['T_max']})" if c.get("chrono") else f"forget bias {c['forget_bias']:g}"
    per_update = "1 sequence" if c["batch_size"] == 1 else f"batches of {c['batch_size']}"
    clip = f"clip {c['clip']:g}" if c["clip"] > 0 else "no clip"
    return f"{c['hidden']} cells, {forget}, {per_update}, {c['optimizer']} {c['lr']:g}, {clip}"


def row(folder):
    with open(os.path.join(folder, "sweep.json")) as f:
        s = json.load(f)
    c = s["config"]
    B, trials = c["batch_size"], s["trials"]
    stopped = [t for t in trials if t["reached_target"]]
    seen = max(t["sequences_seen"] for t in trials)
    budget = c["max_iters"] * B
    to_stop = ", ".join(f"{t['sequences_seen']:,d} ({t['iterations']:,d} updates)" for t in stopped) or "-"
    left = ", ".join("-" if x is None else f"{x:,d}" for x in first_below_half_chance(s))
    wrong = ", ".join(str(next(iter(t["stops"].values()))["test_wrong"] if t["reached_target"] else t["final_test_wrong"])
                      for t in trials)
    cpu = sum(st.get("cpu_sec", 0.0) for st in s.get("stretches", []))
    state = f"partial: {seen:,d} of {budget:,d}" if s["interrupted"] else \
        ("finished" if len(stopped) == len(trials) else f"budget {budget:,d} spent")
    return (f"| `{os.path.basename(folder)}`: {recipe(c)} | {state} | {len(stopped)}/{len(trials)} | {to_stop} | "
            f"{left} | {wrong} | {cpu / 3600:.2f} |")


def table(results=os.path.join(ROOT, "results", "screen_T500")):
    out = ["| recipe (run folder) | sequences per trial | stopped | sequences (updates) to the stop | left the chance "
           "level after (per seed; tests every 20,000) | test wrong of 2,560 at the stop, or at the latest test (per seed) | core-hours |", "|---|---|---|---|---|---|---|"]
    for folder in sorted(glob.glob(os.path.join(results, "*", ""))):
        if os.path.exists(os.path.join(folder, "sweep.json")):
            out.append(row(folder.rstrip("/")))
    return "\n".join(out)


if __name__ == "__main__":
    print(table(*sys.argv[1:]))
