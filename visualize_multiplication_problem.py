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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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
    extra(p)
    args = p.parse_args(argv)
    cfg = mp.config_from_args(args)
    if args.target_test_mse is None and args.seeds is None:
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
    mp.run_sweep(dataclasses.replace(cfg, snapshot_every=0), seeds, workers, run_dir, log)
    return mp.load_sweep(run_dir)


def main(argv=None):
    try:
        args, cfg = parse(argv, __doc__.splitlines()[0], lambda p: p.add_argument(
            "--out-dir", default="viz", help="where the PNGs are written"))
        if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
            raise mp.UsageError(f"--out-dir: {args.out_dir!r} exists and is not a directory")
        log = (lambda s: None) if cfg.quiet else print
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
