"""The forum table: an nn.LSTM configuration from a forum question, and one change
at a time until the paper's stopping rule is reached (the rows that
examples/pytorch_check.py --forum runs, and the table of their trials kept in
results/pytorch_forum/forum.json). Needs no torch.

    python analysis/forum_table.py
"""
import json
import os
import re

import numpy as np

from paper_table import spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORUM_JSON = os.path.join(ROOT, "results", "pytorch_forum", "forum.json")

FORUM = [  # (row, layers, cells, forget bias, optimiser, lr, batch, clip): each row changes one thing of the one
    # above it, but rows 6 on start again from row 4 (on-line training, as the forum and the paper)
    ("forum: 3 layers x 2 cells, SGD lr 0.5", 3, 2, None, "sgd", 0.5, 1, 0.0),
    ("one layer of 16 cells", 1, 16, None, "sgd", 0.5, 1, 0.0),
    ("+ forget-gate bias 3", 1, 16, 3.0, "sgd", 0.5, 1, 0.0),
    ("+ Adam lr 1e-3 instead of SGD", 1, 16, 3.0, "adam", 1e-3, 1, 0.0),
    ("+ batches of 32 sequences, Adam lr 5e-3", 1, 16, 3.0, "adam", 5e-3, 32, 0.0),
    ("row 4 with 64 cells", 1, 64, 3.0, "adam", 1e-3, 1, 0.0),
    ("+ forget-gate bias 5", 1, 64, 5.0, "adam", 1e-3, 1, 0.0),
    ("+ RMSprop lr 1e-3 instead of Adam", 1, 64, 5.0, "rmsprop", 1e-3, 1, 0.0),
    ("+ gradient clipping at norm 1", 1, 64, 5.0, "rmsprop", 1e-3, 1, 1.0),
    ("+ forget-gate bias 7 (for lags of 500)", 1, 64, 7.0, "rmsprop", 1e-3, 1, 1.0),
]
OPTIMISERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}
RECIPE = 9   # the row that stops 10/10 at T = 100: the forget-gate network beside the 1997 cell in Table 7's picture


def setting(spec):
    """A FORUM row's network and training in a few words."""
    _, layers, cells, forget_bias, optimiser, lr, batch, clip = spec
    net = f"{layers} layers x {cells} cells" if layers > 1 else f"{cells} cells"
    bias = "forget bias ~0 (torch's init)" if forget_bias is None else f"forget bias {forget_bias:g}"
    steps = "on-line" if batch == 1 else f"batches of {batch}"
    return f"{net}, {bias}, {OPTIMISERS[optimiser]} lr {lr:g}, {steps}" + (f", clip {clip:g}" if clip else "")


def forum_table(rows, gaps=True):
    """One line per FORUM row that has trials: sequences to the paper's stop over its trials;
    gaps: a row without trials before one with them shows as "not run"."""
    lines = ["| | configuration | network and training | trials stopped (budget) | sequences to the paper's stop: mean, median (min - max) "
             "| test wrong of 2560: mean (max) | forum's view at the end: running MSE, 'correct' (squared error < 0.04) "
             "of last 2000 | paper's view: correct (abs error < 0.04) of last 2000 | wall time per trial |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n, r in enumerate(rows, 1):
        t = r["trials"]
        if not t:
            if gaps and any(x["trials"] for x in rows[n:]):     # a gap in the numbering says why
                lines.append(f"| {n} | {r['row']} | {setting(FORUM[n - 1])} | not run | | | | | |")
            continue
        seq = np.array([x["sequences"] for x in t if x["stopped"]])
        stop = spread(seq) if len(seq) else "-"
        wrong = np.array([x["test_wrong"] for x in t])
        mean = lambda key: np.mean([x[key] for x in t])
        lines.append(f"| {n} | {r['row']} | {setting(FORUM[n - 1])} | {len(seq)}/{len(t)} ({r['budget']:,d}) | {stop} "
                     f"| {wrong.mean():,.1f} "
                     f"({wrong.max():,d}) | {mean('forum_running_mse'):.4f}, {mean('forum_correct_of_2000'):,.0f} "
                     f"| {mean('paper_correct_of_2000'):,.0f} | {mean('wall_sec'):,.0f} s |")
    return "\n".join(lines)


def load_forum(out):
    """forum.json -> rows in FORUM's order, each {"row", "budget", "trials"}."""
    saved = {"rows": []}
    if os.path.exists(out):
        with open(out) as f:
            saved = json.load(f)
    return forum_rows(saved)


def forum_rows(saved):
    """A forum file's content -> rows in FORUM's order, each {"row", "budget", "trials"}."""
    by_name = {r["row"]: r for r in saved["rows"]}
    return [by_name.get(spec[0], {"row": spec[0], "budget": None, "trials": []}) for spec in FORUM]


def recipe_runs(folder):
    """The RECIPE row's trials at each T in folder's forum.json (T = 100) and
    forum_T<T>.json files -> {T: {"trials": [{"sequences_seen", "stops"}], "interrupted":
    False, "budget"}}: the fields of a sweep that Table 7's picture reads."""
    runs = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not re.fullmatch(r"forum(_T\d+)?\.json", name):      # forum.json holds T = 100
            continue
        with open(os.path.join(folder, name)) as f:
            saved = json.load(f)
        row = forum_rows(saved)[RECIPE - 1]
        if row["trials"]:
            runs[saved.get("T", 100)] = {
                "trials": [{"sequences_seen": t["sequences"],
                            "stops": {"all_correct": {"sequences": t["sequences"]}} if t["stopped"] else {}}
                           for t in row["trials"]],
                "interrupted": False, "budget": row["budget"]}
    return runs


if __name__ == "__main__":
    print(forum_table(load_forum(FORUM_JSON)))
