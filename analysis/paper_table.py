"""Markdown summary of the paper-protocol runs in results/paper_*/sweep.json.

    python analysis/paper_table.py
"""
import glob
import json
import os

import sys
from typing import NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import multiplication_problem as mp  # noqa: E402



def spread(values):
    """'mean, median (min - max)' of sequence counts."""
    v = np.asarray(values)
    return f"{v.mean():,.0f}, {np.median(v):,.0f} ({v.min():,d} - {v.max():,d})"


def lower_bounds(trials, key):
    """(mean, median) that the sequences to stop `key` of all the trials are at least: a
    trial that has not reached it counts with the sequences it has seen (it needs more, or
    never gets there). Where some trials have not stopped, the mean of those that have is
    biased low; these bounds are not."""
    v = np.array([t["stops"][key]["sequences"] if key in t["stops"] else t["sequences_seen"] for t in trials])
    return v.mean(), np.median(v)


def bounds_text(trials, key):
    """'all 10: mean at least X, median at least Y', or '' when every trial has stopped."""
    if all(key in t["stops"] for t in trials):
        return ""
    mean, median = lower_bounds(trials, key)
    return f"all {len(trials)}: mean at least {mean:,.0f}, median at least {median:,.0f}"


def table(pattern="paper_*"):
    out = ["| run | stop | trials stopped | sequences to stop: mean, median (min - max); what all are at least | test wrong of 2560: mean, median (max) "
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
    s = json.load(open(path))
    name = os.path.basename(os.path.dirname(path))
    trials = s["trials"]
    keys = mp.stop_keys(trials)
    for k in keys or ["-"]:
        picked = [t["stops"][k] for t in trials if k in t["stops"]]
        label = {"all_correct": "all 2000 correct", "-": "none reached"}.get(k, f"n_seq = {k}")
        if s["interrupted"]:
            label += f" (interrupted at {max(t['sequences_seen'] for t in trials):,d} sequences)"
        if not picked:
            out.append(f"| {name} | {label} | 0/{len(trials)} | - | - | - | {s['elapsed_sec']:,.0f} s |")
            continue
        seq = np.array([r["sequences"] for r in picked])
        wrong = np.array([r["test_wrong"] for r in picked])
        mse = np.array([r["test_mse"] for r in picked])
        bound = bounds_text(trials, k)
        out.append(f"| {name} | {label} | {len(picked)}/{len(trials)} | {spread(seq)}{'; ' + bound if bound else ''} "
              f"| {wrong.mean():.1f}, {np.median(wrong):g} ({wrong.max()}) | {mse.mean():.5f} ({mse.max():.5f}) "
              f"| {s['elapsed_sec']:,.0f} s |")
    return out


GLANCE = [  # a row of the paper's Tables 7 and 8: (task, T, stop key), the paper's (sequences, wrong of 2560,
    # test MSE or None), and the folders of the body text's run and the closest hypothesis's run
    # (the plain output error, a hypothesis about the original program, with the caption's ranges)
    (("adding", 100, "all_correct"), (74_000, 1, None), "paper_adding_T100_rerun",
     "readings/adding_T100_plain_output_error_caption_squash"),
    (("adding", 500, "all_correct"), (209_000, 0, None), "paper_adding_T500",
     "readings/adding_T500_plain_output_error_caption_squash"),
    (("adding", 1000, "all_correct"), (853_000, 1, None), "paper_adding_T1000",
     "readings/adding_T1000_plain_output_error_caption_squash"),
    (("multiplication", 100, "140"), (482_000, 139, 0.0223), "paper_multiplication_T100",
     "readings/multiplication_T100_plain_output_error_caption_squash"),
    (("multiplication", 100, "13"), (1_273_000, 14, 0.0139), "paper_multiplication_T100",
     "readings/multiplication_T100_plain_output_error_caption_squash"),
]


def cell(path, key):
    """One run at one stopping point, in a few words."""
    if not os.path.exists(path):
        return "not run yet"
    s = json.load(open(path))
    trials = s["trials"]
    picked = [t["stops"][key] for t in trials if key in t["stops"]]
    seen = max(t["sequences_seen"] for t in trials)
    state = f"partial: {seen:,d} sequences per trial so far" if s["interrupted"] else f"within {seen:,d}"
    if not picked:
        return f"0/{len(trials)} stopped ({state})"
    seq = np.array([r["sequences"] for r in picked])
    wrong = np.mean([r["test_wrong"] for r in picked])
    mse = f", MSE {np.mean([r['test_mse'] for r in picked]):.5f}" if s["config"]["task"] == "multiplication" else ""
    bound = bounds_text(trials, key)
    return (f"{len(picked)}/{len(trials)} stopped{' (' + state + ')' if bound else ''}: "
            f"{seq.mean():,.0f} sequences (median {np.median(seq):,.0f}, {seq.min():,d} - {seq.max():,d}), "
            f"{wrong:.1f} wrong{mse}{'; ' + bound if bound else ''}")


# the forget-gate LSTM's runs (docs/results.md, "The forget-gate LSTM at the paper's lags"): one recipe
# at every row of GLANCE, 16 cells with chrono initialisation, batches of 32, Adam
FORGET_GATE = {("adding", 100): "forget_gate/adding_T100_chrono", ("adding", 500): "forget_gate/adding_T500_chrono",
               ("adding", 1000): "forget_gate/adding_T1000_chrono",
               ("multiplication", 100): "forget_gate/multiplication_T100_chrono"}


# past the paper's lags (docs/results.md, "Past the paper's lags"): the same recipe, 3 trials or more per T
BEYOND = {2000: "beyond/adding_T2000_chrono", 5000: "beyond/adding_T5000_chrono", 10000: "beyond/adding_T10000_chrono"}
MEMORY = "beyond/memory.json"          # benchmarks/bench_memory.py --out: the recipe's peak memory by T


def lag_folders():
    """{T: the forget-gate LSTM's folder} for the adding problem, at the paper's lags and past them."""
    return {**{T: d for (task, T), d in FORGET_GATE.items() if task == "adding"}, **BEYOND}


def cpu_per_trial(s):
    """-> (CPU seconds per trial, trials per process) from a sweep's stretches (each
    stretch: one process and the trials it held; a run of several groups keeps the furthest
    group's), or (None, None) if unrecorded."""
    stretches = [st for st in s.get("stretches", []) if "cpu_sec" in st]
    if not stretches:
        return None, None
    return sum(st["cpu_sec"] / st["trials"] for st in stretches), max(st["trials"] for st in stretches)


def lag_table():
    """Sequences to the paper's stop against T: the paper, the body text's 1997 network (to
    T = 1000) and the forget-gate LSTM as far as it has been run, with its CPU time and peak
    memory per trial."""
    memory_path = os.path.join(ROOT, "results", MEMORY)
    memory = {r["T"]: r for r in json.load(open(memory_path))["rows"]} if os.path.exists(memory_path) else {}
    paper = {T: (seq, body) for (task, T, _), (seq, _, _), body, _ in GLANCE if task == "adding"}
    out = ["| T | paper (Table 7) | 1997 LSTM, body text (`--paper`) | forget-gate LSTM: 16 cells, `--chrono`, "
           "batches of 32, Adam | its CPU time per trial (trials in lockstep); the run's wall time | its peak "
           "memory: one trial / three in lockstep |",
           "|---|---|---|---|---|---|"]
    for T, folder in sorted(lag_folders().items()):
        path = os.path.join(ROOT, "results", folder, "sweep.json")
        seq, body = paper.get(T, (None, None))
        sweep = json.load(open(path)) if os.path.exists(path) else {}
        cpu, lockstep = cpu_per_trial(sweep)
        m = memory.get(T)
        cells = [f"{T:,d}", f"{seq:,d} sequences" if seq else "-",
                 cell(os.path.join(ROOT, "results", body, "sweep.json"), "all_correct") if body else "-",
                 cell(path, "all_correct"), "-" if cpu is None else f"{cpu:,.0f} s ({lockstep}); {sweep['elapsed_sec']:,.0f} s",
                 f"{m['peak_mib_1_trial']:,d} MiB / {m['peak_mib_3_trials']:,d} MiB" if m else "-"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def forget_gate_cell(task, T, key):
    path = os.path.join(ROOT, "results", FORGET_GATE[(task, T)], "sweep.json")
    return cell(path, key)


def glance():
    """The paper's Tables 7 and 8 beside the body text's network, the closest hypothesis and
    the forget-gate LSTM."""
    out = ["| | paper | body text (`--paper`) | closest hypothesis: plain output error + caption's ranges | "
           "forget-gate LSTM (`--cell lstm`): 16 cells, `--chrono`, batches of 32, Adam |", "|---|---|---|---|---|"]
    for (task, T, key), (seq, wrong, mse), body, reading in GLANCE:
        name = f"Table 7, T = {T}" if task == "adding" else f"Table 8, n_seq = {key}"
        paper = f"{seq:,d} sequences, {wrong} wrong" + (f", MSE {mse}" if mse else "")
        runs = [cell(os.path.join(ROOT, "results", d, "sweep.json"), key) for d in (body, reading)]
        out.append(f"| {name} | {paper} | {runs[0]} | {runs[1]} | {forget_gate_cell(task, T, key)} |")
    return "\n".join(out)


class Stretch(NamedTuple):
    rate: float      # sequences per second per trial
    hours: float
    date: str
    clock: str       # "CPU" or "wall": the seconds the rate counts
    trials: int      # trials in the process


def latest_stretch(sweep, min_seconds=600):
    """-> (sequences per second per trial, hours, date, clock, trials per process) of the
    run's latest stretch of at least `min_seconds` seconds (one piece in one process:
    sweep.json's "stretches"), or None. Per second of the process's CPU time where the
    stretch recorded it (not counting time it waited for a core or was stopped), else per
    second of wall time. A stretch that does not record its trials held all of the run's."""
    B = sweep["config"]["batch_size"]
    for s in reversed(sweep.get("stretches", [])):
        seconds = s["elapsed_sec"][1] - s["elapsed_sec"][0]
        if seconds >= min_seconds:
            clock, per = ("CPU", s["cpu_sec"]) if "cpu_sec" in s else ("wall", seconds)
            trials = s.get("trials", len(sweep.get("trials", [])))
            return Stretch((s["iterations"][1] - s["iterations"][0]) * B / per, seconds / 3600, s["date"], clock, trials)
    return None


def pace(s):
    """-> (sequences per trial so far, budget, sequences per second per trial: mean over the
    run's wall time, the latest stretch or None, hours to the budget at the latest rate
    with as many trials per process as then, and the cores that takes: one per process, for
    the trials still training; stopped trials need none)."""
    seen, budget = max(t["sequences_seen"] for t in s["trials"]), s["config"]["max_iters"] * s["config"]["batch_size"]
    mean_rate, latest = seen / s["elapsed_sec"], latest_stretch(s)
    training = sum(not t["reached_target"] and not t.get("fault") for t in s["trials"])
    cores = max(1, -(-training // latest.trials)) if latest else 1
    return seen, budget, mean_rate, latest, (budget - seen) / (latest.rate if latest else mean_rate) / 3600, cores


def on_cores(hours, cores):
    """'4.5 hours of one core', '3.0 hours on 2 cores'."""
    return f"{hours:.1f} hours of one core" if cores == 1 else f"{hours:.1f} hours on {cores} cores"


if __name__ == "__main__":
    print(glance() if "--glance" in sys.argv else table())
