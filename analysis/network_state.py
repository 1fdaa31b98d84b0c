"""What the 1997 networks of saved sweeps have become: one line per run.

    python analysis/network_state.py results/paper_adding_T500 results/readings/adding_T100_plain_output_error_caption_squash

For each run (its sweep_weights.npz: the weights at its stop, or where an
unfinished run was interrupted) on 256 fresh sequences of the run's own
distribution, medians over the trials of:
  |w_y|       mean absolute weight from the cells into the output unit
              (they start uniform in [-0.1, 0.1], mean 0.05)
  marker->in  largest absolute weight from the marker input into an input gate
  |s| end     absolute state of the largest cell at the step the output reads
              (median over the sequences)
  out std     standard deviation of the output across the sequences
  corr        correlation of the output with the target
  started     sequences until the test MSE first fell below half the chance
              level (the test curve is sampled every eval_every sequences);
              median over the trials that got there, and how many did
  to stop     sequences from there to the trial's (last) stopping point,
              smallest - largest over the trials that stopped
A network that has learnt the task has large |w_y| and an input gate keyed
on the marker; one that answers the mean target has an output that does not
vary (out std near 0) and output weights shrunk below their start.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402


def key_weights(params):
    """Per trial: mean |w_y| (cells -> output unit), largest |marker -> input gate|."""
    C, N = mp.lstm97_shape(params)
    return np.abs(params["wy"]).mean(1), np.abs(params["Wx"][:, 1, C:C + N]).max(1)


def end_states(cache):
    """|s| of every cell at the step the output unit reads: (K, n, C)."""
    K, n = cache.read.shape
    return np.abs(2 * cache.S[cache.read + 1, :, np.arange(K)[:, None], np.arange(n)])


def state(run_dir, n=256):
    s = json.load(open(os.path.join(run_dir, "sweep.json")))
    cfg = mp.config_from_dict(s["config"])
    if cfg.cell != "lstm97":
        raise SystemExit(f"{run_dir}: not a 1997-cell run")
    with np.load(os.path.join(run_dir, "sweep_weights.npz")) as z:
        params = {k: z[k] for k in z.files if k != "seeds"}
    K = params["wy"].shape[0]
    X, L, y = mp.make_sequences(np.random.default_rng(2024), n, cfg)
    out, cache = mp.forward(cfg, params, X[:, None].astype(params["wy"].dtype), np.repeat(L[None], K, 0))
    w_y, marker = key_weights(params)
    row = {
        "|w_y|": w_y,
        "marker->in": marker,
        "|s| end": np.median(end_states(cache).max(2), axis=1),
        "out std": out.std(1),
        "corr": np.array([np.corrcoef(o, y)[0, 1] if o.std() > 0 else 0.0 for o in out]),
    }
    seen = max(t["sequences_seen"] for t in s["trials"])
    stopped = sum(t["reached_target"] for t in s["trials"])
    started, to_stop = leaving_chance(s)
    summary = {k: float(np.median(v)) for k, v in row.items()}
    summary["started"] = (float(np.median(started)) if started else None, len(started))
    summary["to stop"] = (min(to_stop), max(to_stop)) if to_stop else None
    return cfg, seen, stopped, summary


def first_below_half_chance(sweep):
    """Per trial: the sequences at its first test below half the generator's chance MSE
    (where it left the chance level), or None."""
    return [next((c[1] for c in t["test_curve"] if c[2] < sweep["chance_mse"] / 2), None) for t in sweep["trials"]]


def leaving_chance(sweep):
    """-> sequences at which each trial that got there left the chance level (its first
    test below half the generator's chance MSE), and from there to each stop."""
    first = first_below_half_chance(sweep)
    started = [x for x in first if x is not None]
    to_stop = [t["sequences_seen"] - x for t, x in zip(sweep["trials"], first) if x is not None and t["reached_target"]]
    return started, to_stop


LONG_LAG_RUNS = [("T = 100, closest hypothesis", "readings/adding_T100_plain_output_error_caption_squash"),
                 ("T = 100, body text", "paper_adding_T100_rerun"),
                 ("T = 500, closest hypothesis", "readings/adding_T500_plain_output_error_caption_squash"),
                 ("T = 500, plain-error hypothesis", "readings/adding_T500_plain_output_error"),
                 ("T = 500, body text", "paper_adding_T500"),
                 ("T = 1000, closest hypothesis", "readings/adding_T1000_plain_output_error_caption_squash"),
                 ("T = 1000, body text", "paper_adding_T1000")]


def leaving_chance_table(results="results"):
    """Markdown: per run, when its trials left the chance level and how long they took from there to stop."""
    out = ["| run | left chance: median (range) | from there to the stop |", "|---|---|---|"]
    for label, d in LONG_LAG_RUNS:
        s = json.load(open(os.path.join(results, d, "sweep.json")))
        started, to_stop = leaving_chance(s)
        n = len(s["trials"])
        so_far = " so far" if s["interrupted"] else ""
        if not started:
            left = f"none of {n} trials{so_far}"
        else:
            left = f"{np.median(started):,.0f} ({min(started):,d} - {max(started):,d})" + \
                (f", {len(started)} of {n} trials{so_far}" if len(started) < n else "")
        out.append(f"| {label} | {left} | {f'{min(to_stop):,d} - {max(to_stop):,d}' if to_stop else '-'} |")
    return "\n".join(out)


def main(dirs):
    print(f"{'run':<62} {'T':>5} {'sequences':>10} {'stopped':>8} "
          + " ".join(f"{k:>10}" for k in ("|w_y|", "marker->in", "|s| end", "out std", "corr"))
          + f" {'started':>16} {'to stop':>20}")
    for d in dirs:
        cfg, seen, stopped, row = state(d)
        at, n = row.pop("started")
        span = row.pop("to stop")
        started = f"{at:,.0f} ({n})" if n else "-"
        to_stop = f"{span[0]:,d} - {span[1]:,d}" if span else "-"
        print(f"{d:<62} {cfg.T_min:>5} {seen:>10,d} {stopped:>5}/10 "
              + " ".join(f"{v:>10.4f}" for v in row.values()) + f" {started:>16} {to_stop:>20}")


if __name__ == "__main__":
    main(sys.argv[1:])
