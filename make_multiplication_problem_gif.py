"""The training animation of a saved run: multiplication_problem.gif.

    python make_multiplication_problem_gif.py --seed 0 --max-iters 4000 --n-frames 30

One frame per weight snapshot (--n-frames of them, evenly spaced over the
run): a held-out test sequence, the prediction against the target, the
cell-state heat map c[t] (cells x time steps), and the running training MSE
with a marker at the frame's iteration. Reads --run-dir (default run/) and
trains it first when it is missing or was trained with other settings.
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import imageio.v2 as imageio  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import multiplication_problem as mp  # noqa: E402
import visualize_multiplication_problem as viz  # noqa: E402


def frame_indices(n_snapshots, n_frames):
    """n_frames snapshot indices, evenly spaced, first and last included."""
    return np.unique(np.round(np.linspace(0, n_snapshots - 1, n_frames)).astype(int))


def render(cfg, history, snapshots, n_frames, path, fps):
    iters, weights = snapshots
    idx = frame_indices(len(iters), n_frames)
    if len(idx) < n_frames:
        raise mp.UsageError(f"--n-frames: the run holds {len(iters)} snapshots, so at most {len(iters)} frames; got {n_frames}")
    X, L, y = mp.make_test_set(cfg)
    i = 0
    Xi, Li = X[:, i], int(L[i])
    frames = [{k: v[j][None] for k, v in weights.items()} for j in idx]
    states = [viz.internals(cfg, p, Xi, Li) for p in frames]
    loss = np.asarray(history["train_losses"])
    loss_it = (np.arange(len(loss)) + 1) * cfg.loss_every
    smooth = viz.smooth(loss, max(1, len(loss) // 50))
    vmax = max(np.abs(s["state"]).max() for s in states) or 1.0

    fig = plt.figure(figsize=(10, 6.4))
    grid = fig.add_gridspec(2, 2, width_ratios=[2.2, 1])
    ax_seq, ax_bar = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_heat, ax_loss = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    viz.plot_sequence(ax_seq, Xi, Li, "held-out test sequence")
    ax_seq.set_xlabel("time step")
    ax_seq.set_ylabel("value")
    ax_seq.legend(fontsize=8, ncol=3, loc="lower right")
    bars = ax_bar.bar(["target", "prediction"], [y[i], states[0]["y"]], color=[viz.BLACK, viz.BLUE])
    ax_bar.set_ylim(0, 1)
    ax_bar.set_ylabel("output")
    ax_bar.set_title("prediction vs target")
    err_text = ax_bar.text(0.5, 0.93, "", ha="center", transform=ax_bar.transAxes, fontsize=9)
    heat = ax_heat.imshow(states[0]["state"].T, aspect="auto", cmap="PuOr", vmin=-vmax, vmax=vmax,
                          interpolation="nearest")
    ax_heat.set_xlabel("time step")
    ax_heat.set_ylabel("cell")
    ax_heat.set_yticks(range(states[0]["state"].shape[1]))
    ax_heat.set_title("cell state c[t]")
    fig.colorbar(heat, ax=ax_heat, pad=0.02).set_label("c", rotation=0)
    ax_loss.plot(loss_it, smooth, color=viz.BLUE, lw=1.5)
    ax_loss.axhline(history["chance_mse"], color=viz.BLACK, ls="--", lw=1, label="chance")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_title("training MSE")
    ax_loss.legend(fontsize=8, loc="lower left")
    ax_loss.tick_params(axis="x", labelsize=7)
    dot, = ax_loss.plot([], [], "o", color=viz.VERMILLION, ms=7)
    title = fig.suptitle("", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.96))

    images = []
    for j, s in zip(idx, states):
        it = int(iters[j])
        heat.set_data(s["state"].T)
        bars[1].set_height(s["y"])
        err_text.set_text(f"|error| {abs(s['y'] - y[i]):.3f}")
        k = min(np.searchsorted(loss_it, it), len(loss) - 1)
        dot.set_data([loss_it[k] if it > 0 else loss_it[0]], [smooth[k]])
        title.set_text(f"{cfg.task} problem, seed {cfg.seed}: iteration {it:,d} "
                       f"({it * cfg.batch_size:,d} sequences)")
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    mp.atomic_write(path, lambda f: imageio.mimsave(f, images, format="GIF", duration=1000 / fps, loop=0))
    return len(images)


def main(argv=None):
    def extra(p):
        p.add_argument("--n-frames", type=int, default=30, help="frames, one per evenly spaced snapshot")
        p.add_argument("--fps", type=float, default=4.0, help="frames per second")
        p.add_argument("--out", default="multiplication_problem.gif", help="the GIF to write")
    try:
        args, cfg = viz.parse(argv, __doc__.splitlines()[0], extra)
        if args.seeds is not None:
            raise mp.UsageError("--seeds: the animation shows a single run; give --seed")
        if not 2 <= args.n_frames <= 1000:
            raise mp.UsageError(f"--n-frames: must be an integer in [2, 1000], got {args.n_frames}")
        if not 0.1 <= args.fps <= 60:
            raise mp.UsageError(f"--fps: must be in [0.1, 60], got {args.fps}")
        if os.path.isdir(args.out):
            raise mp.UsageError(f"--out: {args.out!r} is a directory")
        if cfg.snapshot_every == 0:
            raise mp.UsageError("--snapshot-every: must be > 0 for an animation")
        log = (lambda s: None) if cfg.quiet else print
        cfg, params, history, snapshots = mp.load_or_train(cfg, args.run_dir, log)
        if snapshots is None:
            raise mp.RunError(f"{args.run_dir}/snapshots.npz is missing; retrain with --snapshot-every > 0")
        n = render(cfg, history, snapshots, args.n_frames, args.out, args.fps)
    except (mp.UsageError, mp.RunError) as e:
        print(f"make_multiplication_problem_gif.py: error: {e}", file=sys.stderr)
        return 2
    log(f"wrote {args.out} ({n} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
