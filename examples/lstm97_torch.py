"""The 1997 LSTM of Hochreiter & Schmidhuber as a PyTorch module, equal to this project's NumPy network.

    python multiplication_problem.py --paper --task adding --max-iters 2000 --save-dir run97   # any lstm97 run
    python examples/lstm97_torch.py --check run97      # outputs, truncated and full gradients against NumPy
    python examples/lstm97_torch.py --train --task adding --T 20 --output-error plain --squash caption
                                                       # one paper-protocol trial in torch and in NumPy

The network (Section 5 and Appendix A.1 of the paper): memory blocks of cells
that share one input gate and one output gate, no forget gate (a cell's state
keeps itself with weight 1.0), a fully recurrent hidden layer (every cell and
gate reads both inputs, the previous step's outputs of all hidden units and a
bias), and one output unit reading the cell outputs. With 2 blocks of 2 cells
it has 93 weights. The paper's truncated gradient is plain autograd with the
previous step's hidden outputs detached: error then flows back in time only
through the cell states.

Weights: a `--cell lstm97` run's weights.npz (sweep_weights.npz holds the same
with a trial axis first), in the paper's unit order, U = C + 2N hidden units:
cells block by block (C), input gates (N), output gates (N).

    Wx (2, U)   inputs (value, marker) -> hidden units
    Wr (U, U)   hidden outputs y(t-1) -> hidden units (row: from, column: to)
    b  (U,)     hidden biases
    wy (C,)     cell outputs -> output unit
    by ()       output bias

PyTorch is optional for this project and never in requirements.txt.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

PARAMS = ("Wx", "Wr", "b", "wy", "by")
LIMIT = 1e-10            # --check fails above this largest relative difference


class LSTM1997(torch.nn.Module if torch else object):
    """The 1997 network. squash = (a_g, a_h): g = a_g tanh(net/2), h = a_h tanh(s/2),
    (2, 1) in the body text, (1, 2) in Table 10's caption. output_reads "previous":
    the output unit reads the cell outputs of the step before the last."""

    def __init__(self, blocks=2, cells_per_block=2, squash=(2.0, 1.0), output="logistic",
                 output_reads="current", truncated=True, dtype=None):
        super().__init__()
        self.N, self.C = blocks, blocks * cells_per_block
        self.squash, self.output, self.truncated = squash, output, truncated
        self.delay = int(output_reads == "previous")
        U = self.C + 2 * self.N
        shapes = {"Wx": (2, U), "Wr": (U, U), "b": (U,), "wy": (self.C,), "by": ()}
        for name, shape in shapes.items():     # uniform in [-0.1, 0.1]; load_weights sets the paper's biases
            self.register_parameter(name, torch.nn.Parameter(torch.empty(shape, dtype=dtype).uniform_(-0.1, 0.1)))

    @classmethod
    def from_config(cls, cfg, truncated=None):
        return cls(cfg.blocks, cfg.cells_per_block, mp.SQUASH[cfg.squash], cfg.output, cfg.output_reads,
                   cfg.gradient == "truncated" if truncated is None else truncated, dtype=torch.float64)

    def load_weights(self, arrays):
        """arrays: the layout above (weights.npz of a --cell lstm97 run)."""
        with torch.no_grad():
            for name in PARAMS:
                getattr(self, name).copy_(torch.as_tensor(np.asarray(arrays[name])))
        return self

    def net_output(self, X, lengths):
        """X (n, T, 2) batch-first, lengths (n,) -> the output unit's net input (n,)."""
        n, T, _ = X.shape
        C, N = self.C, self.N
        a_g, a_h = self.squash
        per_cell = lambda gate: gate.repeat_interleave(C // N, dim=1)     # a block's gate, once per cell
        y = X.new_zeros(n, C + 2 * N)                                     # y(-1) = 0
        s = X.new_zeros(n, C)
        cell_outputs = []
        for t in range(T):
            y_prev = y.detach() if self.truncated else y
            net = X[:, t] @ self.Wx + y_prev @ self.Wr + self.b
            g = a_g * torch.tanh(net[:, :C] / 2)
            y_in, y_out = torch.sigmoid(net[:, C:C + N]), torch.sigmoid(net[:, C + N:])
            s = s + per_cell(y_in) * g                                    # the constant error carousel
            y_c = per_cell(y_out) * (a_h * torch.tanh(s / 2))
            y = torch.cat([y_c, y_in, y_out], dim=1)
            cell_outputs.append(y_c)
        read = torch.as_tensor(lengths) - 1 - self.delay
        feats = torch.stack(cell_outputs)[read, torch.arange(n)]          # (n, C)
        return feats @ self.wy + self.by

    def forward(self, X, lengths):
        net = self.net_output(X, lengths)
        return torch.sigmoid(net) if self.output == "logistic" else net


def loss(cfg, net, y):
    """The loss, from the output unit's net input (n,), whose gradient is this
    project's for cfg: (y - target)^2 / 2 per sequence (the paper's eq. 19), or
    with the plain output error, cross-entropy on the logistic unit (its
    gradient at the net input is y - target); the mean over the sequences,
    times --error-factor (SGD), or times 2 (Adam and RMSprop minimise the
    batch's mean squared error)."""
    if cfg.output_error == "plain":
        per_seq = torch.nn.functional.binary_cross_entropy_with_logits(net, y, reduction="none")
    else:
        out = torch.sigmoid(net) if cfg.output == "logistic" else net
        per_seq = 0.5 * (out - y) ** 2
    return (cfg.error_factor if cfg.optimizer == "sgd" else 2.0) * per_seq.mean()


# ----------------------------------------------------------------------------
# --check: this module against this project on a run's test sequences

def numpy_gradients(cfg, params, X, lengths, y, truncated):
    out, cache = mp.forward(cfg, params, X, lengths)
    grads = mp.lstm97_backward(params, cache, mp.loss_grad(cfg, out - y), truncated=truncated)
    return out[0], {k: grads[k][0] for k in PARAMS}


def torch_gradients(cfg, weights, X, lengths, y, truncated):
    model = LSTM1997.from_config(cfg, truncated).load_weights(weights)
    Xt, yt = torch.from_numpy(X[:, 0].transpose(1, 0, 2).copy()), torch.from_numpy(y[0])
    net = model.net_output(Xt, lengths[0])
    loss(cfg, net, yt).backward()
    out = torch.sigmoid(net) if cfg.output == "logistic" else net
    return out.detach().numpy(), {k: getattr(model, k).grad.numpy() for k in PARAMS}


def relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def load_network(run_dir, seed=None):
    """-> (cfg, params with a trial axis of 1, what it is) of a single run (weights.npz), or of
    one trial of a sweep (sweep_weights.npz; `seed`, default its first)."""
    if not os.path.isfile(os.path.join(run_dir, "sweep.json")):
        cfg, params, _, _ = mp.load_run(run_dir)
        refuse_other_cells(cfg, run_dir)
        return cfg, params, f"run {run_dir}/"
    sweep = mp.load_sweep(run_dir)
    cfg = mp.config_from_dict(sweep["config"])
    refuse_other_cells(cfg, run_dir)
    seeds = [t["seed"] for t in sweep["trials"]]
    seed = seeds[0] if seed is None else seed
    if seed not in seeds:
        raise mp.RunError(f"{run_dir}/ has no trial of seed {seed} (seeds {','.join(map(str, seeds))})")
    try:
        with np.load(os.path.join(run_dir, "sweep_weights.npz")) as z:
            params = {k: z[k][list(z["seeds"]).index(seed)][None] for k in PARAMS}
    except Exception as e:
        raise mp.RunError(f"{run_dir}/sweep_weights.npz is not readable ({type(e).__name__}: {e})".splitlines()[0])
    return cfg, params, f"sweep {run_dir}/, trial seed {seed}"


def refuse_other_cells(cfg, run_dir):
    if cfg.cell != "lstm97":
        raise mp.RunError(f"{run_dir}/ holds a --cell {cfg.cell} run; this module is the 1997 cell (--cell lstm97 "
                          f"or --paper); check an nn.LSTM with examples/pytorch_check.py")


def check(run_dir, n, seed=None):
    cfg, params, what = load_network(run_dir, seed)
    cfg = mp.dataclasses.replace(cfg, dtype="float64")
    params = {k: v.astype(np.float64) for k, v in params.items()}
    X, L, y = mp.make_test_set(cfg)
    n = min(n, len(y))
    X, L, y = X[:int(L[:n].max()), None, :n], L[None, :n], y[None, :n]
    weights = {k: v[0] for k, v in params.items()}
    print(f"{what}: {cfg.task}, 1997 LSTM {cfg.blocks}x{cfg.cells_per_block} cells "
          f"({mp.count_weights(params)} weights), squash {cfg.squash}, output error {cfg.output_error}, "
          f"output reads {cfg.output_reads}" + (f", error factor {cfg.error_factor:g}" if cfg.error_factor != 1 else "")
          + f"; its first {n} test sequences, float64")
    worst = 0.0
    for truncated, name in ((True, "truncated gradient"), (False, "full gradient")):
        ours_y, ours = numpy_gradients(cfg, params, X, L, y, truncated)
        theirs_y, theirs = torch_gradients(cfg, weights, X, L, y, truncated)
        if truncated:
            d = relative(theirs_y, ours_y)
            worst = max(worst, d)
            print(f"  outputs:            largest relative difference {d:.1e}")
        d = max(relative(theirs[k], ours[k]) for k in PARAMS)
        worst = max(worst, d)
        print(f"  {name + ':':<19} largest relative difference {d:.1e} (over {', '.join(PARAMS)})")
    print(f"  {'equal' if worst <= LIMIT else 'DIFFERENT'}: the largest difference is "
          f"{'within' if worst <= LIMIT else 'above'} {LIMIT:g}")
    return 0 if worst <= LIMIT else 1


# ----------------------------------------------------------------------------
# --train: one paper-protocol trial in torch and in NumPy, side by side

def train_both(cfg, seed, budget):
    """Both frameworks from the same initial weights on the same sequences, one
    update per sequence, each with the paper's stopping rule. -> each one's
    stopping sequence (None if not within budget), the first sequence after
    which their weights differ by more than 1e-9 (relative; None if never),
    the largest difference while both trained, and the wall time."""
    params = mp.init_params(cfg, [seed])
    model = LSTM1997.from_config(cfg).load_weights({k: v[0] for k, v in params.items()})
    stream = mp.Stream(cfg, mp.rng_for(seed, 1))
    windows = {side: (np.full((1, mp.WINDOW), np.inf), np.array([mp.WINDOW])) for side in ("numpy", "torch")}
    stops, parted, largest = {"numpy": None, "torch": None}, None, 0.0
    start = time.perf_counter()
    for seen in range(budget):
        X, L, y = stream.next()                                     # (T, 1, 2), (1,), (1,)
        errors = {}
        if stops["numpy"] is None:
            out, cache = mp.forward(cfg, params, X[:, None], L[None])
            err = out - y[None]
            mp.sgd_step(params, mp.backward(cfg, params, cache, mp.loss_grad(cfg, err)), cfg.lr)
            errors["numpy"] = err
        if stops["torch"] is None:
            model.zero_grad()
            net = model.net_output(torch.from_numpy(X.transpose(1, 0, 2).copy()), L)
            loss(cfg, net, torch.from_numpy(y)).backward()
            with torch.no_grad():
                out = torch.sigmoid(net) if cfg.output == "logistic" else net
                for name in PARAMS:
                    getattr(model, name).sub_(cfg.lr * getattr(model, name).grad)
            errors["torch"] = out.numpy()[None] - y[None]
        for side, err in errors.items():
            recent, n_wrong = windows[side]
            mp.window_push(recent, n_wrong, seen, np.abs(err), np.ones(1, bool))
            if all(v[0] for v in mp.paper_stop_points(cfg.task, recent, n_wrong, cfg.n_seq).values()):
                stops[side] = seen + 1
        if len(errors) == 2:
            d = max(relative(getattr(model, k).detach().numpy(), params[k][0]) for k in PARAMS)
            largest = max(largest, d)
            if parted is None and d > 1e-9:
                parted = seen + 1
        if None not in stops.values():
            break
    return stops, parted, largest, time.perf_counter() - start


def train(cfg, seed, budget):
    print(f"one trial, seed {seed}: {mp.describe(cfg)}; NumPy and torch from the same weights, "
          f"on the same sequences", flush=True)
    stops, parted, largest, wall = train_both(cfg, seed, budget)
    for side in ("numpy", "torch"):
        at = f"after {stops[side]:,d} sequences" if stops[side] else f"not within {budget:,d} sequences"
        print(f"  {'this project (NumPy)' if side == 'numpy' else 'LSTM1997 in torch':<22} stops {at}")
    if parted:
        print(f"  the weights first differ by more than 1e-9 (relative) after sequence {parted:,d}: float64 "
              f"rounding of the two frameworks' sums, grown by training")
    else:
        print(f"  the weights never differ by more than 1e-9 (largest relative difference {largest:.1e})")
    print(f"  wall time {wall:,.0f} s for both")
    return 0


def main(argv=None):
    p = mp.build_parser(__doc__.splitlines()[0], save_dir=False)
    p.add_argument("--check", metavar="RUN_DIR", help="compare with a saved --cell lstm97 run on its test sequences")
    p.add_argument("--n-sequences", type=int, default=256, help="--check: how many of the run's test sequences")
    p.add_argument("--trial", type=int, default=None, help="--check of a sweep: the trial's seed (default its first)")
    p.add_argument("--train", action="store_true", help="one paper-protocol trial (--paper's flags, --seed) "
                   "in torch and in NumPy from the same weights and data")
    p.add_argument("--budget", type=int, default=100_000, help="--train: sequences at most (default %(default)s)")
    try:
        args = p.parse_args(argv)
        if torch is None:
            raise mp.UsageError("PyTorch is not installed (pip install torch); this project needs it only in examples/")
        if (args.check is None) == (not args.train):
            raise mp.UsageError("give --check RUN_DIR or --train")
        if args.check is not None:
            if not 1 <= args.n_sequences <= 100_000:
                raise mp.UsageError(f"--n-sequences: must be in [1, 100000], got {args.n_sequences}")
            torch.set_num_threads(1)
            return check(args.check, args.n_sequences, args.trial)
        for flag, given in (("--seeds", args.seeds), ("--clip", args.clip), ("--dtype", args.dtype)):
            if given is not None:
                raise mp.UsageError(f"{flag}: not with --train (one trial, --seed; the paper's gradient descent "
                                    f"without clipping, in float64)")
        args.paper = True
        cfg = mp.config_from_args(args)
        if cfg.optimizer != "sgd" or cfg.batch_size != 1:
            raise mp.UsageError("--train: the paper's protocol only (on-line gradient descent, --batch-size 1)")
        if not 1 <= args.budget <= 10_000_000:
            raise mp.UsageError(f"--budget: must be in [1, 10000000], got {args.budget}")
    except (mp.UsageError, mp.RunError) as e:
        print(f"lstm97_torch.py: error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    return train(mp.dataclasses.replace(cfg, max_iters=args.budget), cfg.seed, args.budget)


if __name__ == "__main__":
    sys.exit(main())
