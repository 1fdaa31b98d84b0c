"""Markdown table of paper-protocol runs that differ in how they read the paper's
text, or add the plain-error hypothesis about the original program: one row per
stopping point of each run's sweep.json, with the reading or hypothesis, the
sentence it rests on (none for a hypothesis), and the command that made it
(from the run's own argv).

    python analysis/readings_table.py results/readings_screen [more folders]
"""
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import multiplication_problem as mp  # noqa: E402
from paper_table import bounds_text, spread  # noqa: E402

READINGS = {  # config field: (value that is not the body text, label, the sentence it rests on)
    "squash": ("caption", "g in [-1, 1], h in [-2, 2]", "Table 10's caption"),
    "out_gate_biases": (True, "output-gate biases -1, -2", "Section 4 ('each output gate gets a negative initial bias'), Exp. 1's values"),
    "error_factor": (2.0, "error signal doubled", "eqs. (16)-(17) read literally"),
    "output_reads": ("previous", "output reads the previous step", "Appendix A.1, net_k(t) = sum w y(t-1)"),
    "output_error": ("plain", "output error without f'(net)", "none: a hypothesis about the original program"),
    "output": ("linear", "linear output unit", "none: contradicts Section 5 ('logistic sigmoids')"),
}


def reading(config):
    """-> (label, rests on) of a run's config; 'body text' when it reads nothing differently."""
    hits = [(label, source) for k, (value, label, source) in READINGS.items() if config[k] == value]
    if not hits:
        return "body text (--paper)", "Section 5, Experiment 4, Appendix A.1"
    return " + ".join(h[0] for h in hits), "; ".join(h[1] for h in hits)


def command(s):
    argv = list(s["env"]["argv"][1:])
    if "--viz-dir" in argv:                 # runs made while the trainer still drew sweep.png itself
        i = argv.index("--viz-dir")
        del argv[i:i + 2]
    argv = [a for a in argv if a != "--resume"]   # the run's command; a resumed run was started without it
    return "`python " + " ".join(["multiplication_problem.py"] + argv) + "`"


def table(folders):
    out = ["| reading or hypothesis | rests on | T | trials stopped | sequences to stop: mean, median (min - max); what all are at least | test wrong of 2560: "
           "mean / median / max | test MSE: mean | wall time | command |", "|---|---|---|---|---|---|---|---|---|"]
    paths = [p for f in folders for p in sorted(glob.glob(os.path.join(ROOT, f, "*", "sweep.json")))]
    for path in paths:
        s = json.load(open(path))
        label, source = reading(s["config"])
        trials = s["trials"]
        for key in mp.stop_keys(trials) or ["-"]:
            picked = [t["stops"][key] for t in trials if key in t["stops"]]
            stop = "" if key in ("all_correct", "-") else f", n_seq = {key}"
            budget = f"not within {max(t['sequences_seen'] for t in trials):,d}"
            if s["interrupted"]:
                budget = f"partial: interrupted at {max(t['sequences_seen'] for t in trials):,d}"
            if not picked:
                out.append(f"| {label}{stop} | {source} | {s['config']['T_min']} | 0/{len(trials)} | {budget} | - | - "
                           f"| {s['elapsed_sec']:,.0f} s | {command(s)} |")
                continue
            seq = np.array([r["sequences"] for r in picked])
            wrong = np.array([r["test_wrong"] for r in picked])
            mse = np.mean([r["test_mse"] for r in picked])
            bound = bounds_text(trials, key)
            count = f"{len(picked)}/{len(trials)}" + (f" ({budget})" if s["interrupted"] and len(picked) < len(trials) else "")
            out.append(f"| {label}{stop} | {source} | {s['config']['T_min']} | {count} "
                       f"| {spread(seq)}{'; ' + bound if bound else ''} "
                       f"| {wrong.mean():.1f} / {np.median(wrong):g} / "
                       f"{wrong.max()} | {mse:.5f} | {s['elapsed_sec']:,.0f} s | {command(s)} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(sys.argv[1:] or ["results/readings_screen"]))
