"""Static pictures of a saved run, written into viz/.

    python visualize_multiplication_problem.py --seed 0 --max-iters 6000
    python visualize_multiplication_problem.py --seeds 0-29 --max-iters 8000   # sweep.png of a sweep

Reads the run in --run-dir (default run/); when it is missing or was trained
with other settings than the flags given, trains it first with the same
trainer, to a held-out MSE of 0.0005 unless --target-test-mse says otherwise
(seed 0: 1,500 iterations, 48,000 sequences). Writes training_curve.png, sample_sequences.png, cell_state.png and
pred_vs_target.png into --out-dir (default viz/). With --seeds: reads (or
trains) the sweep in --run-dir and draws sweep.png, test MSE against
sequences for every seed.
"""
import dataclasses
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

import multiplication_problem as mp  # noqa: E402

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
CYCLE = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK]
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.prop_cycle": matplotlib.cycler(color=CYCLE)})


# The run the pictures show is trained to this held-out MSE (the trainer's own
# default, 0.03, stops at the first evaluation that a half-trained network passes)
PICTURE_TARGET = 0.0005


def parse(argv, description, extra):
    """The trainer's flags (they name the run) plus this script's own."""
    p = mp.build_parser(description, save_dir=False)
    p.add_argument("--run-dir", default="run", help="the saved run to read (trained there if missing)")
    for action in p._actions:                  # this script trains on to its own target
        if action.dest == "target_test_mse":
            action.help = (f"with the MSE stop: the held-out MSE the run is trained to (default {PICTURE_TARGET} "
                           f"for a single run, the trainer's 0.03 for --seeds)")
    extra(p)
    args = p.parse_args(argv)
    cfg = mp.config_from_args(args)
    if args.target_test_mse is None and args.seeds is None and cfg.stop == "test_mse":
        cfg = mp.dataclasses.replace(cfg, target_test_mse=PICTURE_TARGET)
    return args, cfg


def save(fig, path, dpi=100):
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_sequence(ax, X, L, title=None):
    """Values as a line, +1 markers vermillion, -1 sentinels black."""
    v, m = X[:L, 0], X[:L, 1]
    t = np.arange(L)
    ax.plot(t, v, color="0.6", lw=0.8, label="value")
    ax.scatter(t[m == 1], v[m == 1], color=VERMILLION, s=40, zorder=3, label="+1 marker")
    ax.scatter(t[m == -1], v[m == -1], color=BLACK, marker="s", s=22, zorder=3, label="-1 sentinel")
    ax.set_xlim(-0.5, L - 0.5)
    if title:
        ax.set_title(title)


def smooth(x, n):
    if len(x) < n:
        return np.asarray(x)
    c = np.cumsum(np.insert(np.asarray(x, float), 0, 0.0))
    return np.concatenate([c[1:n] / np.arange(1, n), (c[n:] - c[:-n]) / n])


def training_curve(history, cfg, path):
    loss = np.asarray(history["train_losses"])
    it = (np.arange(len(loss)) + 1) * cfg.loss_every
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(it, loss, color=SKY, alpha=0.35, lw=0.6, label="training batch MSE")
    n = max(1, len(loss) // 50)
    ax.plot(it, smooth(loss, n), color=BLUE, lw=2, label=f"training MSE, mean of {n} iterations")
    curve = np.asarray(history["test_curve"])
    ax.plot(curve[:, 0], curve[:, 2], "o-", color=ORANGE, ms=4, label=f"held-out test MSE ({cfg.n_test} sequences)")
    ax.axhline(history["chance_mse"], color=BLACK, ls="--", lw=1, label=f"chance (predict the mean) {history['chance_mse']:.4f}")
    if cfg.stop == "test_mse":
        ax.axhline(cfg.target_test_mse, color=VERMILLION, ls=":", lw=1.5, label=f"target {cfg.target_test_mse}")
    ax.set_yscale("log")
    ax.set_xlabel(f"iteration ({cfg.batch_size} sequences each)")
    ax.set_ylabel("mean squared error")
    ax.set_title(f"{cfg.task} problem, seed {cfg.seed}: final test MSE {history['final_test_mse']:.4f} "
                 f"after {history['sequences_seen']:,d} sequences")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3, which="both")
    save(fig, path, 110)


def sample_sequences(cfg, params, test, path, n=5):
    X, L, y = test
    pred = mp.predict(cfg, params, X[:, :n], L[:n])[0]
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n), sharey=True)
    for i, ax in enumerate(axes):
        plot_sequence(ax, X[:, i], L[i], f"target {y[i]:.3f}   prediction {pred[i]:.3f}   "
                      f"|error| {abs(pred[i] - y[i]):.3f}")
        ax.set_ylabel("value")
    axes[0].legend(fontsize=8, ncol=3, loc="upper right")
    axes[-1].set_xlabel("time step")
    fig.suptitle("held-out test sequences", y=0.995)
    save(fig, path, 100)


def internals(cfg, params, X, L):
    """One sequence through the network -> dict of (time, units) arrays."""
    Xk = X[:L, None, None].astype(params["wy"].dtype)
    Lk = np.array([[L]])
    y, cache = mp.forward(cfg, params, Xk, Lk)
    if cfg.cell == "lstm":
        A, Hs, Cs = cache.A[:, 0, 0], cache.Hs[1:, 0, 0], cache.Cs[1:, 0, 0]
        H = Hs.shape[1]
        gates = {"input gate i": A[:, :H], "forget gate f": A[:, H:2 * H], "output gate o": A[:, 2 * H:3 * H]}
        return {"state": Cs, "out": Hs, "gates": gates, "y": float(y[0, 0])}
    C, N = mp.lstm97_shape(params)
    Y = cache.hidden()[1:, :, 0, 0]                         # (T, U) hidden outputs
    gates = {"input gates (one per block)": Y[:, C:C + N], "output gates (one per block)": Y[:, C + N:]}
    return {"state": 2 * cache.S[1:, :, 0, 0], "out": Y[:, :C], "gates": gates, "y": float(y[0, 0])}


def cell_state(cfg, params, test, path):
    X, L, y = test
    i = 0
    d = internals(cfg, params, X[:, i], L[i])
    rows = 3 + len(d["gates"])
    fig, axes = plt.subplots(rows, 1, figsize=(10.5, 2.0 * rows), sharex=True)
    plot_sequence(axes[0], X[:, i], L[i], f"input; target {y[i]:.3f}, prediction {d['y']:.3f}")
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=8, ncol=3, loc="upper right")
    marks = np.flatnonzero(X[: L[i], i, 1] == 1)
    panels = [("cell state c" if cfg.cell == "lstm" else "cell state s", d["state"], "cell"),
              ("hidden state h = o * tanh(c)" if cfg.cell == "lstm" else "cell output y_c = y_out * h(s)", d["out"], "cell")]
    panels += [(name, g, "block" if cfg.cell == "lstm97" else "cell") for name, g in d["gates"].items()]
    for ax, (name, a, unit) in zip(axes[1:], panels):
        n = a.shape[1]
        colours = CYCLE if n <= len(CYCLE) else plt.cm.viridis(np.linspace(0, 0.92, n))
        for j in range(n):
            ax.plot(a[:, j], lw=1.2, color=colours[j], label=f"{unit} {j}")
        for m in marks:
            ax.axvline(m, color=VERMILLION, lw=0.8, ls=":")
        ax.set_ylabel(name.split(" (")[0].split(" =")[0], fontsize=9)
        ax.set_title(name, fontsize=10)
        if "gate" in name:
            ax.set_ylim(-0.05, 1.05)
    for ax in axes[1:]:
        units = len(ax.get_legend_handles_labels()[1])
        ax.legend(fontsize=7, ncol=2 if units > 8 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.02),
                  frameon=False)
    axes[-1].set_xlabel("time step (dotted lines: the two +1 markers)")
    save(fig, path, 100)


def pred_vs_target(cfg, params, test, path, n=256):
    X, L, y = test
    pred = mp.predict(cfg, params, X[:, :n], L[:n])[0]
    mse = float(((pred - y[:n]) ** 2).mean())
    lo, hi = (0, 1)
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([lo, hi], [lo, hi], color=BLACK, lw=1, ls="--", label="y = x")
    ax.fill_between([lo, hi], [lo - 0.04, hi - 0.04], [lo + 0.04, hi + 0.04], color=SKY, alpha=0.25,
                    label="|error| < 0.04 (paper: correct)")
    ax.scatter(y[:n], pred, s=12, color=BLUE, alpha=0.8, label=f"{n} held-out sequences")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("target " + ("X1 * X2" if cfg.task == "multiplication" else "0.5 + (X1 + X2) / 4"))
    ax.set_ylabel("network output")
    ax.set_title(f"prediction vs target: MSE {mse:.4f}")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_aspect("equal")
    save(fig, path, 100)


def sweep_plot(sweep, path):
    """Test MSE against sequences seen, one line per seed; stalled seeds in vermillion."""
    cfg = mp.config_from_dict(sweep["config"])
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for t in sweep["trials"]:
        c = np.asarray(t["test_curve"])
        ok = t["reached_target"]
        ax.plot(c[:, 1], c[:, 2], color=BLUE if ok else VERMILLION, alpha=0.55 if ok else 0.9,
                lw=1.0 if ok else 1.6, marker=None if ok else "x", ms=4)
    ax.plot([], [], color=BLUE, label=f"reached target ({sweep['reached_target']} seeds)")
    ax.plot([], [], color=VERMILLION, marker="x",
            label=f"did not ({sweep['n_trials'] - sweep['reached_target']} seeds)")
    ax.axhline(sweep["chance_mse"], color=BLACK, ls="--", lw=1, label=f"chance {sweep['chance_mse']:.4f}")
    if cfg.stop == "test_mse":
        ax.axhline(cfg.target_test_mse, color=ORANGE, ls=":", lw=1.5, label=f"target {cfg.target_test_mse}")
    ax.set_yscale("log")
    ax.set_xlabel("training sequences seen")
    ax.set_ylabel("held-out test MSE")
    ax.set_title(f"{cfg.task}: {sweep['reached_target']}/{sweep['n_trials']} seeds reach the target")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3, which="both")
    save(fig, path, 100)


def load_or_train_sweep(cfg, seeds, workers, run_dir, log):
    """The sweep in run_dir if it was trained with cfg and seeds; otherwise train it there."""
    if os.path.exists(os.path.join(run_dir, "sweep.json")):
        sweep = mp.load_sweep(run_dir)
        if mp.same_settings(mp.config_from_dict(sweep["config"]), cfg) and [t["seed"] for t in sweep["trials"]] == seeds:
            return sweep
        log(f"{run_dir}/ holds a sweep trained with other settings; training one with these settings first")
    mp.check_save_dir(run_dir, ["sweep.json", "sweep_weights.npz"])
    mp.refuse_to_train_into(run_dir)
    mp.drop_replaced_checkpoints(run_dir)
    mp.run_sweep(dataclasses.replace(cfg, snapshot_every=0), seeds, workers, run_dir, log)
    return mp.load_sweep(run_dir)


# ----------------------------------------------------------------------------
# the paper's results, drawn from the committed runs in results/ (no training)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis"))
from paper_table import BEYOND, FORGET_GATE, GLANCE  # noqa: E402  (the paper's numbers and the runs beside them)
from forum_table import recipe_runs  # noqa: E402  (the forget-gate nn.LSTM that works, by T)

PAPER_T1000_RANGE = (370_000, 2_020_000)   # Table 7's text: single trials at T = 1000
PAPER_FIGURES = ("paper_table7.png", "paper_learning_curves.png", "long_lags_start.png", "forget_gate_T500.png")
# the forget-gate picture: seed 0 of a recipe whose trials left the chance level, beside seed 0 of one at it
FORGET_GATE_PAIR = (("chrono initialisation: left the chance level", "screen_T500/batch32_chrono"),
                    ("forget bias 5 in every cell: at the chance level", "screen_T500/batch32_fb5"))
WEIGHTS_OVER_TIME = "weights_over_time/adding_plain_output_error_caption_squash.txt"
# one colour per network: (legend label, colour, GLANCE column, the learning curves' row label); the
# folders of the 1997 networks come from GLANCE's columns, the torch forget-gate LSTM's trials (column None:
# adding only, no learning curves) from results/pytorch_forum/, this project's forget-gate LSTM's (column
# "forget_gate") from paper_table's FORGET_GATE
NETWORKS = [("1997 LSTM, the paper's text read literally (--paper)", BLUE, 2,
             "body text (--paper):\nthe paper's text read literally"),
            ("1997 LSTM, closest hypothesis: output error t - y, Table 10's ranges of g and h", ORANGE, 3,
             "closest hypothesis: error t - y,\nTable 10's ranges of g and h"),
            ("forget-gate LSTM: torch nn.LSTM, 64 cells, forget bias 5, RMSprop, clip 1 (docs/pytorch.md)", GREEN, None,
             None),
            ("forget-gate LSTM (--cell lstm): 16 cells, chrono initialisation, batches of 32, Adam", PURPLE,
             "forget_gate", "forget-gate LSTM (--cell lstm):\n16 cells, chrono, batches of 32, Adam")]
CURVES = [n for n, network in enumerate(NETWORKS) if network[3]]   # the networks with learning curves


def paper_runs(results_dir):
    """{(task, T or n_seq key): (paper numbers, [sweep or None per network])}; RunError
    if results_dir is missing or holds none of the runs."""
    if not os.path.isdir(results_dir):
        raise mp.RunError(f"{results_dir}/ is not a folder; give the results folder (default results)")
    runs, found = {}, 0
    recipe = recipe_runs(os.path.join(results_dir, "pytorch_forum"))
    for row in GLANCE:
        (task, T, key), paper = row[0], row[1]
        sweeps = []
        for _, _, column, _ in NETWORKS:
            if column is None:
                sweeps.append(recipe.get(T) if task == "adding" else None)
                continue
            folder = os.path.join(results_dir, FORGET_GATE[(task, T)] if column == "forget_gate" else row[column])
            sweeps.append(mp.load_sweep(folder) if os.path.exists(os.path.join(folder, "sweep.json")) else None)
            found += sweeps[-1] is not None
        runs[(task, T if task == "adding" else key)] = (paper, sweeps)
    for T, folder in BEYOND.items():                  # past the paper's lags: the forget-gate LSTM alone
        folder = os.path.join(results_dir, folder)
        if os.path.exists(os.path.join(folder, "sweep.json")):
            runs[("adding", T)] = (None, [mp.load_sweep(folder) if column == "forget_gate" else None
                                          for _, _, column, _ in NETWORKS])
    if not found:
        raise mp.RunError(f"{results_dir}/ holds none of the paper runs (e.g. {GLANCE[0][2]}/sweep.json)")
    return runs


def trial_points(sweep, key):
    """-> sequences of the trials that stopped at key, and those of the ones that did not (their last)."""
    stopped = [t["stops"][key]["sequences"] for t in sweep["trials"] if key in t["stops"]]
    running = [t["sequences_seen"] for t in sweep["trials"] if key not in t["stops"]]
    return np.array(stopped), np.array(running)


def table7_picture(runs, path):
    """Sequences to the paper's stop against T, each trial a dot, one colour per network."""
    Ts = sorted(T for task, T in runs if task == "adding")
    fig, ax = plt.subplots(figsize=(8.6 + 0.8 * sum(T > 1000 for T in Ts), 6.6))   # room for each T past the paper
    for n, (label, colour, _, _) in enumerate(NETWORKS):
        for T in Ts:
            paper, sweeps = runs[("adding", T)]
            sweep = sweeps[n]
            if sweep is None:
                continue
            shift = 1.1 ** n if paper else 1.0             # the networks side by side, the paper to the left
            stopped, running = trial_points(sweep, "all_correct")
            rng = np.random.default_rng(T)
            jitter = shift * 1.015 ** rng.uniform(-1, 1, len(stopped))
            ax.scatter(T * jitter, stopped, s=16, color=colour, alpha=0.75, zorder=3)
            if len(stopped) and not (sweep["interrupted"] and len(running)):    # a partial run's mean would mislead
                ax.scatter([T * shift], [np.mean(stopped)], marker="_", s=420, lw=2.4, color=colour, zorder=4)
                ax.scatter([T * shift], [np.median(stopped)], marker="D", s=34, facecolor="white",
                           edgecolor=colour, lw=1.6, zorder=4)
            if len(running):
                status = "partial" if sweep["interrupted"] else "budget spent"
                ax.scatter([T * shift], [running.max()], marker="^", s=70, facecolor="none", edgecolor=colour,
                           lw=1.6, zorder=4)
                done = f"{len(stopped)} stopped (dots),\n" if len(stopped) else ""
                above = n % 2 == 1 or n == 0               # two runs not stopped at one T: one label up, one down
                ax.annotate(f"{done}{len(running)} not stopped\nby {running.max():,d}\n({status})", (T * shift, running.max()),
                            textcoords="offset points", xytext=(8 if n else -8, 4 if above else -4),
                            ha="left" if n else "right",                  # the first network's to the left, clear of the others' dots
                            va="bottom" if above else "top", fontsize=7.5, color=colour)
    paper = [(T / 1.1, runs[("adding", T)][0][0]) for T in Ts if runs[("adding", T)][0]]
    ax.scatter(*zip(*paper), marker="*", s=170, color=BLACK, zorder=5)
    lo, hi = PAPER_T1000_RANGE
    ax.plot([1000 / 1.1] * 2, [lo, hi], color=BLACK, lw=1.4)
    ax.annotate("paper's single\ntrials, T = 1000", (1000 / 1.1, hi), textcoords="offset points", xytext=(-5, 0),
                ha="right", va="top", fontsize=7.5)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="none", label=l) for l, c, _, _ in NETWORKS]
    handles += [plt.Line2D([], [], color="0.35", marker="_", ms=14, mew=2.4, ls="none", label="mean of the trials that stopped (finished runs)"),
                plt.Line2D([], [], color="0.35", marker="D", mfc="white", ls="none", label="median"),
                plt.Line2D([], [], color="0.35", marker="^", mfc="none", ls="none", label="not stopped by then"),
                plt.Line2D([], [], color=BLACK, marker="*", ms=12, ls="none", label="paper: mean of 10 trials (Table 7)")]
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)                              # below the axes: clear of every run's dots and labels
    if Ts[-1] > 1000:
        ax.axvspan(1000 * 1.45, Ts[-1] * 1.5, color="0.93", zorder=0)
        ax.annotate("past the paper's lags", (1000 * 1.5, 1.3e4), fontsize=8, color="0.3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(Ts, [f"T = {T:,d}\n(lag >= {T // 2:,d})" for T in Ts], fontsize=9)
    ax.minorticks_off()
    ax.set_xlim(Ts[0] / 1.5, Ts[-1] * (1.9 if Ts[-1] <= 1000 else 1.5))
    ax.set_ylim(1e4, 1e7)
    ax.set_xlabel("minimal sequence length T (sequences of length T to T + T/10; log scale)")
    ax.set_ylabel("training sequences until the paper's stop")
    ax.set_title("Table 7 and past it, the adding problem: sequences until the last 2000 all have |error| < 0.04",
                 fontsize=11)
    ax.grid(alpha=0.3, which="major")
    save(fig, path, 110)


def learning_curve_panel(ax, sweep, keys, paper_seqs, colour):
    cfg = mp.config_from_dict(sweep["config"])
    marks = {keys[0]: ("o", "white"), **({keys[1]: ("o", colour)} if len(keys) > 1 else {})}
    for t in sweep["trials"]:
        c = np.array([row[:3] for row in t["test_curve"]], float)
        ax.plot(c[:, 1], c[:, 2], color=colour, alpha=0.6, lw=0.9)
        for key, (marker, face) in marks.items():
            if key in t["stops"]:
                s = t["stops"][key]
                ax.scatter([s["sequences"]], [s["test_mse"]], marker=marker, s=22, facecolor=face,
                           edgecolor=BLACK, lw=0.8, zorder=4)
    ax.axhline(mp.chance_mse(cfg), color=BLACK, ls="--", lw=1)
    for seq in paper_seqs:
        ax.axvline(seq, color=VERMILLION, lw=1.3, ls=":")
    n = len(sweep["trials"])
    counts = [(k, sum(k in t["stops"] for t in sweep["trials"])) for k in keys]
    label = (f"{counts[0][1]}/{n} stopped" if len(keys) == 1 else
             ", ".join(f"n_seq {k}: {c}/{n}" for k, c in counts) + " stopped")
    ax.text(0.98, 0.97, label + (" (partial)" if sweep["interrupted"] else ""), transform=ax.transAxes,
            ha="right", va="top", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(*((2e-5, 0.1) if cfg.task == "adding" else (5e-5, 0.25)))
    ax.set_xlim(0, None)
    ax.grid(alpha=0.3, which="major")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e6:g}M" if x else "0"))


def learning_curves_picture(runs, path):
    """Each trial's test MSE against sequences seen: a row per network, a column per paper run."""
    columns = [(("adding", T), f"Table 7, adding, T = {T}", ["all_correct"]) for T in (100, 500, 1000)]
    keys8 = sorted((k for task, k in runs if task == "multiplication"), key=lambda k: -int(k))
    columns.append((("multiplication", keys8[0]), "Table 8, multiplication, T = 100", keys8))
    fig, axes = plt.subplots(len(CURVES), len(columns), figsize=(15, 3.4 * len(CURVES) + 1), squeeze=False)
    for i, n in enumerate(CURVES):
        _, colour, _, row_label = NETWORKS[n]
        for j, (row, title, keys) in enumerate(columns):
            ax = axes[i, j]
            sweep = runs[row][1][n]
            paper_seqs = [runs[(row[0], k if row[0] == "multiplication" else row[1])][0][0] for k in keys]
            if sweep is None:
                ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
            else:
                learning_curve_panel(ax, sweep, keys, paper_seqs, colour)
            ax.set_title(title if i == 0 else "", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{row_label}\n\nheld-out test MSE", fontsize=9)
            if i == len(CURVES) - 1:
                ax.set_xlabel("training sequences seen")
    handles = [plt.Line2D([], [], color="0.4", lw=1, label="one trial (seeds 0-9)"),
               plt.Line2D([], [], color=BLACK, ls="--", lw=1, label="chance: the target's variance"),
               plt.Line2D([], [], color=VERMILLION, ls=":", lw=1.3, label="paper's mean sequences to stop"),
               plt.Line2D([], [], marker="o", mfc="white", mec=BLACK, ls="none",
                          label="a trial's stop (Table 8: n_seq = 140)"),
               plt.Line2D([], [], marker="o", mfc="0.4", mec=BLACK, ls="none", label="Table 8: n_seq = 13")]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8.5, frameon=False)
    fig.suptitle("Learning curves of the paper runs: top, the 1997 LSTM as the body text describes it; "
                 "middle, with the plain output error and the caption's ranges;\nbottom, this project's forget-gate "
                 "LSTM with chrono initialisation (tests every 20,000 sequences)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def read_weights_over_time(path):
    """results/weights_over_time/*.txt (benchmarks/weights_over_time.py's output) ->
    (sequences (n,), {T: (n, 4) array of |w_y|, marker weight, |s| at the end, test MSE})."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        head = next(i for i, l in enumerate(lines) if l.split()[:1] == ["sequences"])
        Ts = [int(t) for t in lines[head].split("T =")[1:]]
        rows = [l for l in lines[head + 1:] if l.strip() and l.split()[0].replace(",", "").isdigit()]
        seqs = np.array([int(r.split()[0].replace(",", "")) for r in rows])
        values = np.array([[float(v) for v in r.split(None, 1)[1].replace("/", " ").split()] for r in rows])
        return seqs, {T: values[:, 4 * i: 4 * i + 4] for i, T in enumerate(Ts)}
    except (OSError, StopIteration, ValueError, IndexError) as e:
        raise mp.RunError(f"{path} is not an output of benchmarks/weights_over_time.py ({type(e).__name__})")


def long_lags_picture(path_in, path):
    """|w_y| and the marker -> input-gate weight over the first sequences, at T = 100 and T = 500."""
    seqs, by_T = read_weights_over_time(path_in)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    panels = [(0, "mean |w_y| (cells -> output unit)"), (1, "largest |marker -> input gate weight|"),
              (3, "held-out test MSE")]
    for ax, (col, name) in zip(axes, panels):
        for T, colour in zip(sorted(by_T), (BLUE, VERMILLION, GREEN)):
            ax.plot(seqs, by_T[T][:, col], "o-", ms=3.5, color=colour, label=f"T = {T}")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training sequences seen")
        ax.grid(alpha=0.3, which="major")
    axes[0].set_ylabel("median over seeds 0-2")
    axes[0].legend(fontsize=8)
    fig.suptitle("Why long lags start late (adding; plain output error + caption's ranges): at T = 500 the first 5,000 "
                 "sequences\nshrink the output weights 20x, and in 60,000 the marker's weight into the input gates "
                 "does not move", fontsize=10.5)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def forget_gate_picture(results_dir, path):
    """Per cell, the forget gate and the cell state over the first test sequence (the two
    marked steps dotted), for the two runs of FORGET_GATE_PAIR side by side (seed 0 of each)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.4), sharex=True)
    for col, (label, folder) in enumerate(FORGET_GATE_PAIR):
        run = os.path.join(results_dir, folder)
        sweep = mp.load_sweep(run)
        cfg = mp.config_from_dict(sweep["config"])
        with np.load(os.path.join(run, "sweep_weights.npz")) as z:
            k = list(z["seeds"]).index(0)
            params = {name: z[name][k:k + 1] for name in z.files if name != "seeds"}
        X, L, y = mp.make_test_set(cfg)
        d = internals(cfg, params, X[:, 0], L[0])
        seen = sweep["trials"][k]["sequences_seen"]
        marks = np.flatnonzero(X[: L[0], 0, 1] == 1)
        for row, (name, a) in enumerate((("forget gate f", d["gates"]["forget gate f"]), ("cell state c", d["state"]))):
            ax = axes[row, col]
            colours = plt.cm.viridis(np.linspace(0, 0.92, a.shape[1]))
            for j in range(a.shape[1]):
                ax.plot(a[:, j], lw=1.0, color=colours[j])
            for m in marks:
                ax.axvline(m, color=VERMILLION, lw=1.0, ls=":")
            ax.set_ylabel(name)
            if row == 0:
                ax.set_ylim(-0.02, 1.02)
                ax.set_title(f"{label}\n({os.path.basename(folder)}, seed 0, after {seen:,d} sequences): "
                             f"target {y[0]:.3f}, output {d['y']:.3f}", fontsize=9.5)
        axes[1, col].set_xlabel("time step of the first test sequence (dotted: the two marked steps)")
    fig.suptitle(f"The forget-gate LSTM at T = {cfg.T_min}: what each of its {cfg.hidden} cells keeps", fontsize=11)
    save(fig, path, 100)


def paper_figures(results_dir, out_dir):
    """The pictures of the paper's results and the forget-gate LSTM's (PAPER_FIGURES) -> their paths."""
    runs = paper_runs(results_dir)
    read_weights_over_time(os.path.join(results_dir, WEIGHTS_OVER_TIME))     # refused before anything is drawn
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name) for name in PAPER_FIGURES]
    table7_picture(runs, paths[0])
    learning_curves_picture(runs, paths[1])
    long_lags_picture(os.path.join(results_dir, WEIGHTS_OVER_TIME), paths[2])
    forget_gate_picture(results_dir, paths[3])
    return paths


def own_flags(p):
    p.add_argument("--out-dir", default="viz", help="where the PNGs are written")
    p.add_argument("--paper-results", metavar="RESULTS_DIR", default=None,
                   help="draw the paper's results from the committed runs in this folder (results): "
                        + ", ".join(PAPER_FIGURES) + "; no training")


def main(argv=None):
    try:
        args, cfg = parse(argv, __doc__.splitlines()[0], own_flags)
        if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
            raise mp.UsageError(f"--out-dir: {args.out_dir!r} exists and is not a directory")
        log = (lambda s: None) if cfg.quiet else print
        if args.paper_results is not None:
            paths = paper_figures(args.paper_results, args.out_dir)
            log(f"wrote {', '.join(paths)}")
            return 0
        if args.seeds is not None:
            seeds = mp.parse_seeds(args.seeds)
            sweep = load_or_train_sweep(dataclasses.replace(cfg, snapshot_every=0), seeds, args.workers, args.run_dir, log)
        else:
            cfg, params, history, _ = mp.load_or_train(cfg, args.run_dir, log)
    except (mp.UsageError, mp.RunError) as e:
        print(f"visualize_multiplication_problem.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    if args.seeds is not None:
        sweep_plot(sweep, os.path.join(args.out_dir, "sweep.png"))
        log(f"wrote {os.path.join(args.out_dir, 'sweep.png')}")
        return 0
    test = mp.make_test_set(cfg)
    out = lambda name: os.path.join(args.out_dir, name)
    training_curve(history, cfg, out("training_curve.png"))
    sample_sequences(cfg, params, test, out("sample_sequences.png"))
    cell_state(cfg, params, test, out("cell_state.png"))
    pred_vs_target(cfg, params, test, out("pred_vs_target.png"))
    log(f"wrote {', '.join(out(n) for n in ('training_curve.png', 'sample_sequences.png', 'cell_state.png', 'pred_vs_target.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
