"""The LSTM long-time-lag arithmetic problems (Hochreiter & Schmidhuber 1997).

Experiment 5 (multiplication) and Experiment 4 (adding) in pure NumPy:
a vectorised marker-sequence generator, two LSTM cells with hand-written
backward passes (the modern forget-gate LSTM and the original 1997 LSTM with
its truncated gradient), Adam and plain SGD, one trainer for both, and a CLI.

Dimension letters, used in every shape comment:
    K  trials: independent networks trained in lockstep (a plain run is K = 1)
    B  sequences per update, per trial
    T  time steps (the longest sequence of the batch; shorter ones are padded)
    D  inputs per step (2: value, marker)
    H  cells of the modern LSTM
    C  cells of the 1997 LSTM; N its blocks; U = C + 2N its hidden units

Arrays are time-major, (T, K, B, ...), so the time loop slices contiguous
blocks. A sequence of length L is read out at its own last step, L - 1.
"""
from __future__ import annotations

import os

# One process per core is how this trainer runs in parallel (--workers); BLAS
# threads would only contend with it (a 64-cell batch gradient took 30-300 ms
# with two threads beside another run, 3 ms with one). Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import NamedTuple  # noqa: E402

import numpy as np  # noqa: E402


def keep_freed_memory():
    """Keep freed memory in the process instead of giving it back to the OS.

    Every update allocates the same large arrays (at T = 500 with 10 trials of
    32 sequences, ~80 MB each); glibc hands blocks this large back to the OS on
    free and takes them again on the next update, page by page, which cost a
    third of the forget-gate LSTM's time as system time. Values are untouched,
    so results keep every bit. glibc only; elsewhere nothing changes."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's malloc.h
        libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2 ** 31 - 1))
        if not libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(2 ** 30)):     # older glibc: at most 32 MiB
            libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(2 ** 25))
    except (OSError, AttributeError):
        pass


keep_freed_memory()

TASKS = ("multiplication", "adding")
DISTS = ("reference", "paper")
CELLS = ("lstm", "lstm97")
CORRECT_ABS_ERR = 0.04   # paper: a sequence is processed correctly below this
WINDOW = 2000            # paper: stopping looks at the 2000 most recent sequences
RESULTS_VERSION = 2       # history.json and sweep.json: every Config field, n_trials, interrupted
CHECKPOINT_VERSION = 1
DEFAULT_SAVE_DIR = "run"
DEFAULT_LR = {"adam": 5e-3, "rmsprop": 1e-3, "sgd": 0.1}   # without --paper, for --optimizer
RUN_FILES = ("weights.npz", "history.json", "snapshots.npz", "weights_torch.npz")   # what a single run writes
SNAPSHOTS = 100          # a single run keeps between SNAPSHOTS and 2 * SNAPSHOTS weight snapshots
SQUASH = {"body": (2.0, 1.0), "caption": (1.0, 2.0)}   # 1997 cell: (a_g, a_h), g = a_g tanh(net/2), h = a_h tanh(s/2)


# ----------------------------------------------------------------------------
# errors

class RunError(Exception):
    """A run folder that is missing, torn, or from another version."""


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing written."""


# ----------------------------------------------------------------------------
# configuration

def option(default, help=None, cell=None, **argparse_kw):
    """A Config field; with `help` it is also a command-line flag --name-with-dashes
    (argparse_kw: choices, flag, default_text), whose help gets the default appended.
    `cell`: the one cell the field applies to; for the other it must keep its default
    (validate) and does not tell two runs apart (same_settings)."""
    meta = {} if help is None else {"help": help, **argparse_kw}
    if cell is not None:
        meta["cell"] = cell
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class Config:
    """Every setting of a run. Fields with help are the trainer's flags."""
    task: str = option("multiplication", "which problem: multiplication (target X1*X2) or adding "
                       "(target 0.5 + (X1+X2)/4)", choices=TASKS)
    dist: str = option("reference", "training distribution: reference (one length per batch in [T-min, T-max]) or "
                       "paper (each sequence its own length)", choices=DISTS)
    T_min: int = option(20, "shortest training sequence")
    T_max: int = option(30, "longest training sequence")
    eval_T: int = option(30, "length of the held-out test sequences (reference distribution; the paper's test "
                         "set has the training lengths)")
    n_test: int = option(2560, "size of the fixed held-out test set")
    test_seed: int = option(1234, "seed of the held-out test set, shared by all trials")
    cell: str = option("lstm", "lstm: forget-gate LSTM (full BPTT); lstm97: the 1997 LSTM", choices=CELLS)
    hidden: int = option(16, "lstm: cells (the reference used 8)", cell="lstm")
    blocks: int = option(2, "lstm97: memory blocks", cell="lstm97")
    cells_per_block: int = option(2, "lstm97: cells sharing one input and one output gate", cell="lstm97")
    forget_gate: bool = option(True, "lstm: fix the forget gate at 1 (no forget gate)", flag="--no-forget-gate", cell="lstm")
    forget_bias: float = option(3.0, "lstm: initial forget-gate bias (the reference used 1.0)", cell="lstm")
    chrono: bool = option(False, "lstm: chrono initialisation (Tallec & Ollivier 2018): forget-gate biases log(u), "
                          "u uniform in [1, chrono-T - 1] per cell, input-gate biases their negatives; replaces "
                          "--forget-bias", cell="lstm")
    chrono_T: int = option(0, "lstm, with --chrono: the longest dependency it is set for; 0 = the longest training "
                           "sequence (--T-max)", flag="--chrono-T", cell="lstm")
    init_scale: float = option(0.0, "uniform initialisation half-width", default_text="1/sqrt(hidden) for lstm, 0.1 for lstm97")
    gate_biases: bool = option(False, cell="lstm97")    # input-gate biases -3, -6, ... (the paper's adding problem)
    gradient: str = option("full", "lstm97: full BPTT, or the paper's truncated gradient (error flows back in "
                           "time only through the cell states)", choices=("full", "truncated"), cell="lstm97")
    output: str = option("logistic", "output unit: logistic (the paper, the reference) or linear (an ablation)",
                         choices=("logistic", "linear"))
    # readings of the paper where its text allows more than one (lstm97; docs/paper.md quotes them)
    squash: str = option("body", "lstm97 reading, ranges of g and h: body g in [-2, 2], h in [-1, 1] (Experiment 4, "
                         "Appendix A.1); caption g in [-1, 1], h in [-2, 2] (Table 10's caption; docs/paper.md)",
                         choices=tuple(SQUASH), cell="lstm97")
    out_gate_biases: bool = option(False, "lstm97 reading: output-gate biases -1, -2, ... per block (Section 4, "
                                   "Experiment 1's values); otherwise random like every weight (Table 10)", cell="lstm97")
    error_factor: float = option(1.0, "sgd reading: 1 = the output error f'(net)(t - y) of eq. (19); 2 = eqs. (16)-(17) "
                                 "read literally (the same as twice the learning rate)", choices=(1.0, 2.0))
    output_reads: str = option("current", "lstm97 reading: the output unit reads the cells' outputs of the same step "
                               "(Section 5) or of the previous one (Appendix A.1)", choices=("current", "previous"),
                               cell="lstm97")
    output_error: str = option("fprime", "output error signal: fprime = f'(net)(t - y) (the paper); plain = t - y "
                               "without f'(net), i.e. cross-entropy on a logistic output: a hypothesis about the "
                               "original program, not in the text", choices=("fprime", "plain"))
    optimizer: str = option("adam", "adam, rmsprop (as torch.optim.RMSprop: alpha 0.99, eps 1e-8), or plain sgd (no "
                            "momentum)", choices=("adam", "rmsprop", "sgd"))
    lr: float = option(5e-3, "learning rate (without --paper: adam 5e-3, rmsprop 1e-3, sgd 0.1)")
    clip: float = option(1.0, "global gradient-norm clip per trial, any optimizer, 0 = off")
    batch_size: int = option(32, "sequences per update")
    max_iters: int = option(6000, "update budget")
    stop: str = option("test_mse", "stopping rule: test_mse (held-out MSE below --target-test-mse) or paper (the "
                       "training-window rules)", choices=("test_mse", "paper"))
    target_test_mse: float = option(0.03, "stop once the held-out MSE is below this (stop test_mse)")
    n_seq: tuple = option((140,), "stop paper, multiplication: stop when fewer than n of the last 2000 training "
                          "sequences are wrong; several points as 140,13")
    eval_every: int = option(500, "iterations between held-out evaluations")
    loss_every: int = option(1)          # iterations averaged into one recorded training loss
    snapshot_every: int = option(1, "first interval (iterations) between weight snapshots of a single run, for the "
                                 f"GIF; it doubles whenever {2 * SNAPSHOTS} are held, so any run keeps "
                                 f"{SNAPSHOTS}-{2 * SNAPSHOTS}; 0 = none")
    checkpoint_every: int = option(0, "iterations between checkpoints in the save dir (0 = only on Ctrl-C / SIGTERM)")
    dtype: str = option("float64", "training precision", choices=("float64", "float32"))
    seed: int = option(0, "seed of a single run (weights and data)")
    quiet: bool = option(False, "no progress lines")

    def init_half_width(self):
        if self.init_scale > 0:
            return self.init_scale
        return 0.1 if self.cell == "lstm97" else 1.0 / np.sqrt(self.hidden)


def paper_config(task, T=100, **overrides):
    """The paper's protocol for `task` at minimal length T (docs/paper.md)."""
    cfg = Config(task=task, dist="paper", T_min=T, T_max=T + T // 10, cell="lstm97",
                 gradient="truncated", optimizer="sgd", lr=0.5 if task == "adding" else 0.1,
                 clip=0.0, batch_size=1, init_scale=0.1, gate_biases=task == "adding",
                 stop="paper", max_iters=5_000_000, eval_every=20_000, loss_every=1000,
                 snapshot_every=0, checkpoint_every=50_000)
    return dataclasses.replace(cfg, **overrides)


# ----------------------------------------------------------------------------
# data

def make_sequences(rng, n, cfg, T_min=None, T_max=None):
    """Draw n marker sequences. Returns X (T, n, D), lengths (n,), y (n,).

    reference: one length L ~ U[T_min, T_max] for all n; values U[0, 1]
      (U[-1, 1] for adding); first +1 marker in steps 1..9, second in
      [10, max(L//2, 11)).
    paper: each sequence its own length in [T_min, T_max]; first +1 marker in
      steps 0..9, second anywhere in the first T_min//2 - 1 steps not already
      marked; a marked step 0 keeps marker +1 and its value is replaced by
      1.0 (multiplication) or 0.0 (adding).
    Both: marker -1 on the first and last step (unless step 0 is marked).
    """
    T_min = cfg.T_min if T_min is None else T_min
    T_max = cfg.T_max if T_max is None else T_max
    rows = np.arange(n)
    if cfg.dist == "reference":
        L = int(rng.integers(T_min, T_max + 1))
        lengths = np.full(n, L)
        p1 = rng.integers(1, 10, size=n)
        p2 = rng.integers(10, max(L // 2, 11), size=n)
    else:
        lengths = rng.integers(T_min, T_max + 1, size=n)
        p1 = rng.integers(0, 10, size=n)
        m = T_min // 2 - 1                       # second marker: one of the first m steps
        p1_inside = p1 < m
        p2 = rng.integers(0, m - p1_inside)      # uniform over the m (or m-1) free steps
        p2 += p1_inside & (p2 >= p1)             # skip over the first marker
    T = int(lengths.max())
    low = -1.0 if cfg.task == "adding" else 0.0
    values = rng.uniform(low, 1.0, size=(T, n))  # (T, n)
    values[np.arange(T)[:, None] >= lengths] = 0.0
    markers = np.zeros((T, n))                   # (T, n)
    markers[0] = -1.0
    markers[lengths - 1, rows] = -1.0
    markers[p1, rows] = 1.0
    markers[p2, rows] = 1.0
    values[0, markers[0] == 1.0] = 0.0 if cfg.task == "adding" else 1.0
    x1, x2 = values[p1, rows], values[p2, rows]
    y = 0.5 + (x1 + x2) / 4 if cfg.task == "adding" else x1 * x2
    return np.stack([values, markers], axis=-1), lengths, y


CHUNK_NUMBERS = itertools.count()


@dataclass
class Stream:
    """One trial's training data: batches of B sequences from its own generator.

    The paper distribution is drawn in chunks of many sequences (one generator
    call each) because one-sequence batches would spend their time in the
    generator; `state` is the generator state at the start of the chunk.
    """
    cfg: Config
    rng: np.random.Generator
    chunk: int = 0
    buf: tuple = None
    pos: int = 0
    state: dict = None
    number: int = -1          # of the chunk in buf, unique in this process (lockstep_batch's cache key)

    def __post_init__(self):
        B = self.cfg.batch_size
        self.chunk = B * max(1, 256 // B) if self.cfg.dist == "paper" else B

    def draw(self):
        """The next chunk from the generator, handed out from its start."""
        self.state = self.rng.bit_generator.state
        self.buf, self.pos = make_sequences(self.rng, self.chunk, self.cfg), 0
        self.number = next(CHUNK_NUMBERS)

    def refill_if_spent(self):
        """Draw the next chunk if this one is used up (or none was drawn)."""
        if self.buf is None or self.pos >= self.chunk:
            self.draw()

    def next(self):
        B = self.cfg.batch_size
        self.refill_if_spent()
        X, L, y = self.buf
        i = slice(self.pos, self.pos + B)
        self.pos += B
        T = int(L[i].max())
        return X[:T, i], L[i], y[i]


def stack_trials(batches, dtype):
    """Pad per-trial batches (X (T_k, B, D), L, y) into X (T, K, B, D), L (K, B), y (K, B)."""
    T = max(X.shape[0] for X, _, _ in batches)
    K, (B, D) = len(batches), batches[0][0].shape[1:]
    X = np.zeros((T, K, B, D), dtype)
    for k, (Xk, _, _) in enumerate(batches):
        X[: Xk.shape[0], k] = Xk
    return X, np.stack([b[1] for b in batches]), np.stack([b[2] for b in batches]).astype(dtype)


def lockstep_batch(st, ids, dtype):
    """The next batch of each running trial ids, stacked as stack_trials stacks
    them: X (T, n, B, D), L (n, B), y (n, B). Running trials advance in step, so
    their chunks run out together: the chunks are stacked once (again when a
    trial stops) and each step is a slice of them, not n slices and a copy."""
    streams = [st.streams[k] for k in ids]
    for s in streams:
        s.refill_if_spent()
    B, i = streams[0].cfg.batch_size, streams[0].pos
    chunks = tuple(s.number for s in streams)         # which chunks, of which trials: a new one or a stop restacks
    if st.stacked is None or st.stacked[0] != chunks:
        if any(s.pos != i for s in streams):
            raise RuntimeError("running trials out of step: their data streams are at different positions")
        st.stacked = (chunks, stack_trials([s.buf for s in streams], dtype))
    X, L, y = st.stacked[1]
    for s in streams:
        s.pos += B
    batch = slice(i, i + B)
    T = int(L[:, batch].max())
    return X[:T, :, batch], L[:, batch], y[:, batch]


def rng_for(seed, purpose):
    """Independent generators per seed: 0 weights, 1 training data, 2 test set."""
    return np.random.default_rng([seed, purpose])


def chance_mse(cfg):
    """MSE of always answering the mean target (the target's variance).

    1/9 - 1/16 (multiplication) and 1/24 (adding) under the reference
    generator; under the paper's, a marked step 0 (probability q) counts as
    1.0 (multiplication) or 0.0 (adding), which moves both numbers."""
    q = 0.0
    if cfg.dist == "paper":
        m = cfg.T_min // 2 - 1
        q = 0.1 + sum(0.1 / (m - 1 if i < m else m) for i in range(1, 10))
    if cfg.task == "adding":
        return q / 48 + (1 - q) / 24
    mean, second = q / 2 + (1 - q) / 4, q / 3 + (1 - q) / 9
    return second - mean ** 2


# ----------------------------------------------------------------------------
# shared by both cells: the output unit, initialisation, weight gradients

def logistic(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5   # = 1/(1+e^-x), without overflow


def outer_sum(a, b, block=1):
    """sum over t, b of a[t,k,b,:] (x) b[t,k,b,:]: a (T,K|1,B,P), b (T,K,B,Q) -> (K,P,Q).

    One matmul per block of `block` steps, the blocks summed in time order. The
    blocks start at t = 0 and padding steps are exact zeros in b, so a trial's
    gradient is bit-identical whatever the other trials in its lockstep group
    (and hence the padded length) are."""
    if block > 1:
        K = b.shape[1]
        return np.matmul(time_blocks(a, block, K).swapaxes(-1, -2), time_blocks(b, block, K)).sum(axis=0)
    return np.matmul(a.swapaxes(-1, -2), b).sum(axis=0)


def time_blocks(x, block, K):
    """x (T, K|1, B, P) -> (n, K, block * B, P): the steps in blocks of `block`,
    each block's steps and sequences on one axis, the last block padded with
    zeros. One copy, written straight into the blocked layout."""
    T, B, P = x.shape[0], x.shape[2], x.shape[-1]
    n, full = -(-T // block), T // block
    out = np.zeros((n, K, block, B, P), x.dtype)
    by_time = out.transpose(0, 2, 1, 3, 4)                # (n, block, K, B, P), a view of out
    by_time[:full] = x[:full * block].reshape((full, block) + x.shape[1:])
    if full < n:
        by_time[full, :T - full * block] = x[full * block:]
    return out.reshape(n, K, block * B, P)


def grad_block(B):
    """Steps per matmul of the forget-gate LSTM's weight gradient: 64 for one
    sequence per update (one matmul per step would be a rank-one product each),
    one for a batch, whose B sequences already make a step's matmul, so that a
    batch is never padded past its longest sequence."""
    return 64 if B == 1 else 1


def net_input_grads(grads, X, prev, dNet, recurrent):
    """Gradients of the weights into the hidden net inputs: from the inputs X,
    from the previous hidden outputs `prev`, and the bias; dNet (T, K, B, G)."""
    block = grad_block(dNet.shape[2])
    grads["Wx"] = outer_sum(X, dNet, block)
    grads[recurrent] = outer_sum(prev, dNet, block)
    grads["b"] = dNet.sum(axis=2).sum(axis=0)
    return grads


def last_step(A, lengths):
    """A (T, K, B, ...) read at each sequence's last step -> (K, B, ...)."""
    K, B = lengths.shape
    return A[lengths - 1, np.arange(K)[:, None], np.arange(B)]


def readout(params, feats, output="logistic", output_error="fprime"):
    """The output unit: feats (K, B, F) -> y (K, B), dy/dnet (K, B).
    logistic (the paper, the reference) or linear (an ablation). With
    output_error "plain" the error signal at the net input is the output
    error itself, without f'(net) (cross-entropy on a logistic unit)."""
    net = np.einsum("kbf,kf->kb", feats, params["wy"]) + params["by"][:, None]
    if output == "linear":
        return net, np.ones_like(net)
    y = logistic(net)
    return y, (y * (1 - y) if output_error == "fprime" else np.ones_like(y))


def readout_backward(params, feats, dydnet, dy):
    """Gradients of the output unit and d feats (K, B, F)."""
    dz = dy * dydnet                                        # (K, B)
    grads = {"wy": np.einsum("kb,kbf->kf", dz, feats), "by": dz.sum(1)}
    return grads, dz[..., None] * params["wy"][:, None, :]


def init_params(cfg, seeds):
    """Weights for each seed, stacked on the trial axis; each from its own generator."""
    per = [init_params_one(cfg, rng_for(s, 0)) for s in seeds]
    dtype = np.dtype(cfg.dtype)
    return {k: np.stack([p[k] for p in per]).astype(dtype) for k in per[0]}


def init_params_one(cfg, rng):
    s, D = cfg.init_half_width(), 2
    if cfg.cell == "lstm":
        H = cfg.hidden
        p = {"Wx": rng.uniform(-s, s, (D, 4 * H)), "Wh": rng.uniform(-s, s, (H, 4 * H)),
             "b": rng.uniform(-s, s, 4 * H), "wy": rng.uniform(-s, s, H),
             "by": rng.uniform(-s, s)}
        p["b"][H:2 * H] = cfg.forget_bias
        if cfg.chrono:                                   # drawn after every other weight, which keep their values
            p["b"][H:2 * H] = np.log(rng.uniform(1, chrono_horizon(cfg) - 1, H))
            p["b"][:H] = -p["b"][H:2 * H]
        return p
    C, N = cfg.blocks * cfg.cells_per_block, cfg.blocks
    U = C + 2 * N
    p = {"Wx": rng.uniform(-s, s, (D, U)), "Wr": rng.uniform(-s, s, (U, U)),
         "b": rng.uniform(-s, s, U), "wy": rng.uniform(-s, s, C), "by": rng.uniform(-s, s)}
    if cfg.gate_biases:
        p["b"][C:C + N] = -3.0 * np.arange(1, N + 1)     # paper, adding: -3, -6
    if cfg.out_gate_biases:
        p["b"][C + N:] = -1.0 * np.arange(1, N + 1)      # Section 4, Experiment 1's values: -1, -2
    return p


def chrono_horizon(cfg):
    """The T_max of chrono initialisation: --chrono-T, or the longest training sequence."""
    return cfg.chrono_T or cfg.T_max


def count_weights(params):
    return sum(v[0].size for v in params.values())


# ----------------------------------------------------------------------------
# modern LSTM: gates i, f, o, g in one matmul; forget bias; BPTT

class LstmCache(NamedTuple):
    X: np.ndarray         # (T, K|1, B, D) inputs
    lengths: np.ndarray   # (K, B)
    A: np.ndarray         # (T, K, B, 4H) gate activations i, f, o, g
    Hs: np.ndarray        # (T+1, K, B, H) h_t at Hs[t+1]
    Cs: np.ndarray        # (T+1, K, B, H) c_t at Cs[t+1]
    TC: np.ndarray        # (T, K, B, H) tanh(c_t)
    feats: np.ndarray     # (K, B, H) h at each sequence's last step
    dydnet: np.ndarray    # (K, B) output unit's dy/dnet


def lstm_step(params, x, h, c, forget_gate=True):
    """One time step, written plainly: x (K,B,D), h, c (K,B,H) -> h, c."""
    H = h.shape[-1]
    a = x @ params["Wx"] + h @ params["Wh"] + params["b"][:, None, :]    # (K, B, 4H)
    i, f, o = (logistic(a[..., j * H:(j + 1) * H]) for j in range(3))
    f = f if forget_gate else np.ones_like(f)
    c = f * c + i * np.tanh(a[..., 3 * H:])
    return o * np.tanh(c), c


def lstm_forward(params, X, lengths, forget_gate=True, output="logistic", output_error="fprime"):
    """X (T, K|1, B, D), lengths (K, B) -> y (K, B), cache."""
    Wh = params["Wh"]
    T, B = X.shape[0], X.shape[2]
    K, H = Wh.shape[0], Wh.shape[1]
    # logistic(x) = 0.5 + 0.5 tanh(x/2): halve the i, f, o columns of the weights
    # so that one tanh per step serves all four gates
    half = np.r_[np.full(3 * H, 0.5), np.ones(H)].astype(Wh.dtype)           # (4H,)
    A = X @ (params["Wx"] * half) + (params["b"] * half)[:, None, :]        # (T, K, B, 4H) then gates
    Wh_half = Wh * half
    Hs = np.zeros((T + 1, K, B, H), A.dtype)          # Hs[t+1] = h_t
    Cs = np.zeros((T + 1, K, B, H), A.dtype)          # Cs[t+1] = c_t
    TC = np.empty((T, K, B, H), A.dtype)              # tanh(c_t)
    rec, ig = np.empty((K, B, 4 * H), A.dtype), np.empty((K, B, H), A.dtype)   # per-step scratch
    for t in range(T):
        a = A[t]
        a += np.matmul(Hs[t], Wh_half, out=rec)
        np.tanh(a, out=a)
        s = a[..., :3 * H]
        s *= 0.5
        s += 0.5                                      # i, f, o
        if not forget_gate:
            a[..., H:2 * H] = 1.0
        np.multiply(a[..., H:2 * H], Cs[t], out=Cs[t + 1])
        Cs[t + 1] += np.multiply(a[..., :H], a[..., 3 * H:], out=ig)
        np.tanh(Cs[t + 1], out=TC[t])
        np.multiply(a[..., 2 * H:3 * H], TC[t], out=Hs[t + 1])
    h_last = last_step(Hs[1:], lengths)               # (K, B, H)
    y, dydnet = readout(params, h_last, output, output_error)
    return y, LstmCache(X, lengths, A, Hs, Cs, TC, h_last, dydnet)


def lstm_backward(params, cache, dy):
    """dy (K, B) = dLoss/dy -> grads, same keys and shapes as params."""
    X, lengths, A, Hs, Cs, TC, h_last, dydnet = cache
    T, K, B, H4 = A.shape
    H = H4 // 4
    grads, dh_last = readout_backward(params, h_last, dydnet, dy)
    dH = np.zeros((T, K, B, H), A.dtype)              # loss gradient entering h_t
    dH[lengths - 1, np.arange(K)[:, None], np.arange(B)] = dh_last
    ends = np.zeros(T, bool)
    ends[lengths - 1] = True                          # steps where some sequence is read out
    I, F, O, G = (A[..., j * H:(j + 1) * H] for j in range(4))
    dA = np.empty((T, K, B, 4, H), A.dtype)           # gradient at the pre-activations
    WhT = params["Wh"].transpose(0, 2, 1).copy()
    dh = np.zeros((K, B, H), A.dtype)
    dc = np.zeros((K, B, H), A.dtype)
    # what the loop multiplies by, computed for a span of steps at once (the
    # whole sequence would be memory traffic at long T; a span stays in cache):
    # dA = [dc*g*i', dc*c_prev*f', dh*tanh(c)*o', dc*i*g']
    span = max(1, min(T, (1 << 15) // (K * B * H)))
    P = np.empty((span, K, B, 4, H), A.dtype)
    dTC = np.empty((span, K, B, H), A.dtype)          # dh_t/dc_t
    for end in range(T, 0, -span):
        s = slice(max(0, end - span), end)
        n = s.stop - s.start
        P[:n, ..., 0, :] = G[s] * I[s] * (1 - I[s])
        P[:n, ..., 1, :] = Cs[s] * F[s] * (1 - F[s])
        P[:n, ..., 2, :] = TC[s] * O[s] * (1 - O[s])
        P[:n, ..., 3, :] = I[s] * (1 - G[s] ** 2)
        np.multiply(O[s], 1 - TC[s] ** 2, out=dTC[:n])
        for j in reversed(range(n)):
            t = s.start + j
            if ends[t]:
                dh += dH[t]
            dc += dh * dTC[j]
            np.multiply(dc[..., None, :], P[j], out=dA[t])
            np.multiply(dh, P[j, ..., 2, :], out=dA[t, ..., 2, :])
            np.matmul(dA[t].reshape(K, B, H4), WhT, out=dh)
            dc *= F[t]
    return net_input_grads(grads, X, Hs[:-1], dA.reshape(T, K, B, H4), "Wh")


# ----------------------------------------------------------------------------
# 1997 LSTM: blocks of cells sharing an input and an output gate, no forget
# gate, fully recurrent hidden layer y = [cells, input gates, output gates].
# Every unit is a (scaled) logistic of its net input, i.e. an affine map of
# z = tanh(net/2): gates (1 + z)/2, cell input g = a_g z, cell output
# y_c = y_out h(s) with h(s) = a_h tanh(s/2). The paper's body text has
# a_g = 2 (g in [-2, 2]) and a_h = 1 (h in [-1, 1]); Table 10's caption swaps them.
#
# The forward pass is unit-major: arrays (T, units, K, B), so that every
# operation inside the time loop works on one contiguous block (a NumPy call
# on a small contiguous array costs ~0.3 us, a broadcasting or strided one
# ~0.8 us, and the paper's protocol runs about 10^9 such steps at T = 1000).
# For the same reason each gate is computed once per cell of its block
# ("wide" layout: [cells, input gate of each cell, output gate of each cell]),
# so that y_in g and y_out h multiply equal shapes; a gate's copies have the
# same weights, hence the same bits, and only its first copy has weights
# out of it (the others have exact zeros, which change no sum).

class Cache97(NamedTuple):
    inputs: np.ndarray    # (T+1, V, K, B) what step t's net inputs read: [y(t-1) wide (3C), x(t) (D), 1]
    R: np.ndarray         # (T+1, V, K, B) the same with the network's own y(t-1) (= inputs unless y_prev)
    Z: np.ndarray         # (T, 3C, K, B) tanh(net/2) of [cells, input gates, output gates], gates wide
    S: np.ndarray         # (T+1, C, K, B) s_t / 2 at S[t+1]
    TH: np.ndarray        # (T, C, K, B) tanh(s_t / 2)
    read: np.ndarray      # (K, B) the step whose cell outputs the output unit reads
    feats: np.ndarray     # (K, B, C) those cell outputs
    dydnet: np.ndarray    # (K, B) output unit's dy/dnet (1 for a linear output or a plain error signal)
    squash: tuple         # (a_g, a_h)
    N: int                # blocks

    def hidden(self):
        """The hidden outputs y(t) as the paper numbers them, (T+1, U, K, B):
        [cells (C), input gates (N), output gates (N)]; y(-1) = 0 at [0]."""
        C, P = self.S.shape[1], self.S.shape[1] // self.N
        return np.concatenate([self.R[:, :C], self.R[:, C:2 * C:P], self.R[:, 2 * C:3 * C:P]], axis=1)


def lstm97_step(params, x, y, s, squash=SQUASH["body"]):
    """One step of the 1997 network as the paper writes it (Section 5,
    Appendix A.1), to be read; lstm97_forward computes the same for a whole
    sequence, laid out for speed (tested equal). x (K, B, D) inputs, y (K, B, U)
    the previous step's hidden outputs [cells, input gates, output gates],
    s (K, B, C) cell states -> this step's y and s."""
    C, N = lstm97_shape(params)
    a_g, a_h = squash
    per_cell = lambda gate: np.repeat(gate, C // N, axis=-1)       # each block's gate, once per cell
    net = x @ params["Wx"] + y @ params["Wr"] + params["b"][:, None, :]
    g = a_g * (2 * logistic(net[..., :C]) - 1)                      # cell input, in [-a_g, a_g]
    y_in, y_out = logistic(net[..., C:C + N]), logistic(net[..., C + N:])
    s = s + per_cell(y_in) * g                                      # the constant error carousel
    y_c = per_cell(y_out) * a_h * (2 * logistic(s) - 1)             # h(s), in [-a_h, a_h]
    return np.concatenate([y_c, y_in, y_out], axis=-1), s


def lstm97_shape(params):
    C = params["wy"].shape[1]
    N = (params["Wr"].shape[1] - C) // 2
    return C, N


@functools.lru_cache(maxsize=None)
def wide_index(C, N, D=2):
    """Wide layout <-> the paper's units: the unit of each wide row (3C,) and
    the wide input column of each of the paper's inputs [y (U), x (D), 1]
    (a gate's input column is its first copy)."""
    P = C // N
    unit = np.r_[np.arange(C), C + np.repeat(np.arange(N), P), C + N + np.repeat(np.arange(N), P)]
    first = np.arange(N) * P
    column = np.r_[np.arange(C), C + first, 2 * C + first, 3 * C + np.arange(D + 1)]
    unit.flags.writeable = column.flags.writeable = False      # shared by every call (cached)
    return unit, column


def lstm97_weights(params):
    """(K, V, 3C): the weights from the wide [y(t-1), x(t), 1] into every wide
    unit, halved (net/2); a step is the row vector of inputs times this matrix.

    Stored with a stride of two elements, because a trial must give the same
    bits alone or in any lockstep group: for one sequence (B = 1, the paper's
    on-line step) NumPy's matmul then runs its own loop, each net input summed
    over the inputs in order, instead of BLAS's matrix-vector product, whose
    summation order depends on where the trial's vector sits in memory. For
    B >= 2 NumPy copies the operands and calls BLAS's gemm on each trial's
    copy alone, which leaves a trial's bits independent of its group, too."""
    C, N = lstm97_shape(params)
    W = np.concatenate([params["Wr"], params["Wx"], params["b"][:, None, :]], axis=1)   # (K, U+D+1, U)
    K, V, D = W.shape[0], 3 * C + W.shape[1] - W.shape[2], W.shape[1] - W.shape[2] - 1
    unit, column = wide_index(C, N, D)
    out = np.zeros((K, V, 2 * 3 * C), W.dtype)[..., ::2]
    out[:, column] = 0.5 * W[:, :, unit]
    return out


def lstm97_forward(params, X, lengths, squash=SQUASH["body"], delay=0, output="logistic",
                   output_error="fprime", y_prev=None):
    """X (T, K|1, B, D), lengths (K, B) -> y (K, B), Cache97.

    delay 1: the output unit reads the previous step's cell outputs (Appendix A.1).
    y_prev (T, U, K, B), when given, replaces the previous-step hidden outputs
    that feed the net inputs (the truncated gradient's view of the network).
    """
    C, N = lstm97_shape(params)
    T, B, D = X.shape[0], X.shape[2], X.shape[3]
    K = params["Wr"].shape[0]
    KB, V = K * B, 3 * C + D + 1
    a_g, a_h = squash
    Wt = lstm97_weights(params)                        # (K, V, 3C)
    R = np.zeros((T + 1, V, K, B), Wt.dtype)          # R[t] = [y(t-1), x(t), 1]
    R[:T, 3 * C:3 * C + D] = X.transpose(0, 3, 1, 2)
    R[:, -1] = 1.0
    inputs = R
    if y_prev is not None:
        inputs = R.copy()
        inputs[:T, :3 * C] = y_prev[:, wide_index(C, N, D)[0]]
    Z = np.empty((T, 3 * C, K, B), Wt.dtype)          # tanh(net/2)
    S = np.zeros((T + 1, C, K, B), Wt.dtype)          # s_t / 2
    TH = np.empty((T, C, K, B), Wt.dtype)             # tanh(s_t / 2)
    # per-step views, all contiguous except the matmul's: (K, B, units), a row of inputs per trial and sequence
    Z_k, in_k = Z.transpose(0, 2, 3, 1), inputs[:T].transpose(0, 2, 3, 1)
    Z_all, Z_cells, Z_gates = Z.reshape(T, -1), Z[:, :C].reshape(T, -1), Z[:, C:].reshape(T, -1)
    gates, y_in = R[1:, C:3 * C].reshape(T, -1), R[1:, C:2 * C].reshape(T, -1)
    y_out, y_cells = R[1:, 2 * C:3 * C].reshape(T, -1), R[1:, :C].reshape(T, -1)
    S_all, TH_all = S.reshape(T + 1, -1), TH.reshape(T, -1)
    inc = np.empty(C * KB, Wt.dtype)
    one, half = np.ones(2 * C * KB, Wt.dtype), np.full(2 * C * KB, 0.5, Wt.dtype)
    g_scale, h_scale = a_g / 2, a_h                    # s/2 grows by y_in g/2 = y_in (a_g/2) z
    g_by, h_by = np.full(C * KB, g_scale, Wt.dtype), np.full(C * KB, h_scale, Wt.dtype)   # faster than scalar operands
    matmul, tanh, add, multiply = np.matmul, np.tanh, np.add, np.multiply   # looked up once, not at every step
    for z_k, in_t, z, z_g, g, z_c, y_i, s, s_next, th, y_o, y_c in zip(
            Z_k, in_k, Z_all, Z_gates, gates, Z_cells, y_in, S_all[:-1], S_all[1:], TH_all, y_out, y_cells):
        matmul(in_t, Wt, z_k)
        tanh(z, z)
        add(z_g, one, g)
        multiply(g, half, g)                          # y_in, y_out = logistic(net)
        multiply(y_i, z_c, inc)
        if g_scale != 1:
            multiply(inc, g_by, inc)
        add(s, inc, s_next)                           # constant error carousel (on s/2)
        tanh(s_next, th)
        multiply(y_o, th, y_c)
        if h_scale != 1:
            multiply(y_c, h_by, y_c)
    read = lengths - 1 - delay
    feats = R[read + 1, :C, np.arange(K)[:, None], np.arange(B)]     # (K, B, C)
    y, dydnet = readout(params, feats, output, output_error)
    return y, Cache97(inputs, R, Z, S, TH, read, feats, dydnet, (a_g, a_h), N)


def per_block(a, N):
    """(..., C) -> (..., N, C/N) view: a block's cells on the last axis."""
    return a.reshape(a.shape[:-1] + (N, -1))


def lstm97_backward(params, cache, dy, truncated=True):
    """dy (K, B) -> grads. truncated: the paper's gradient (no error through the
    recurrent connections; only the cell state carries it back), computed
    without a loop over time; otherwise full BPTT of the same network."""
    if not truncated:
        return _lstm97_backward_full(params, cache, dy)
    C, N = lstm97_shape(params)
    T, _, K, B = cache.Z.shape
    U, P = C + 2 * N, C // N
    a_g, a_h = cache.squash
    grads, dyc = readout_backward(params, cache.feats, cache.dydnet, dy)   # dyc (K, B, C) at the read step
    kk, bb, r = np.arange(K)[:, None], np.arange(B), cache.read
    th_r = cache.TH[r, :, kk, bb]                                   # (K, B, C)
    yout_r = cache.R[r + 1, 2 * C:3 * C, kk, bb]                    # (K, B, C) each cell's output gate
    ds = dyc * (0.5 * a_h) * (1 - th_r ** 2) * yout_r
    dyout = per_block(dyc * a_h * th_r, N).sum(-1)                  # (K, B, N)
    # the state error ds is the same at every step up to the read step (self-connection 1.0)
    ds = np.ascontiguousarray(ds.transpose(2, 0, 1))                 # (C, K, B), broadcast over time
    zc = cache.Z[:, :C]                                              # (T, C, K, B)
    yin = cache.R[1:, C:2 * C]                                       # (T, C, K, B) each cell's input gate
    dNET = np.empty((T, U, K, B), zc.dtype)                          # the paper's units
    cells = dNET[:, :C]
    np.multiply(ds * (0.5 * a_g), 1 - zc ** 2, out=cells)
    cells *= yin
    dyin = (ds * a_g) * zc                                           # (T, C, K, B) summed per block:
    gates_in = dNET[:, C:C + N]
    np.copyto(gates_in, dyin[:, ::P])
    for p in range(1, P):
        gates_in += dyin[:, p::P]
    yin_b = yin[:, ::P]                                              # (T, N, K, B)
    gates_in *= yin_b
    gates_in *= 1 - yin_b
    dNET[:, :C + N] *= (np.arange(T)[:, None, None] <= r).astype(dNET.dtype)[:, None]   # no error after the read step
    dNET[:, C + N:] = 0.0
    yout_rb = yout_r[..., ::P]                                       # (K, B, N)
    dNET[r, C + N:, kk, bb] = dyout * yout_rb * (1 - yout_rb)
    return _lstm97_weight_grads(grads, cache, dNET)


def _lstm97_weight_grads(grads, cache, dNET):
    """Weights from the input vector [y(t-1), x(t), 1] into the net inputs,
    summed over the batch, then over time in time order (so padding steps,
    exact zeros, leave a trial's gradient bit-identical in any lockstep group).
    The wide copies of a gate are inputs without weights: only the first counts."""
    U, C, V = dNET.shape[1], cache.S.shape[1], cache.inputs.shape[1]
    G = outer_sum(cache.inputs[:-1].transpose(0, 2, 3, 1), dNET.transpose(0, 2, 3, 1), block=64)  # (K, V, U)
    G = G[:, wide_index(C, cache.N, V - 3 * C - 1)[1]]                                           # (K, U+D+1, U)
    grads["Wr"], grads["Wx"], grads["b"] = G[:, :U], G[:, U:-1], G[:, -1]
    return grads


def _lstm97_backward_full(params, cache, dy):
    C, N = lstm97_shape(params)
    T, _, K, B = cache.Z.shape
    U, P = C + 2 * N, C // N
    a_g, a_h = cache.squash
    grads, dyc_read = readout_backward(params, cache.feats, cache.dydnet, dy)
    dYC = np.zeros((T, C, K, B), cache.Z.dtype)           # loss gradient entering y_c(t) from the output unit
    dYC[cache.read, :, np.arange(K)[:, None], np.arange(B)] = dyc_read
    dNET = np.zeros((T, U, K, B), cache.Z.dtype)
    Wr = params["Wr"]                                    # (K, U_from, U_to)
    dY = np.zeros((U, K, B), cache.Z.dtype)              # gradient entering y(t) from step t+1
    ds = np.zeros((C, K, B), cache.Z.dtype)
    blocks = lambda a: a.reshape((N, P) + a.shape[1:])   # (C, K, B) -> (N, C/N, K, B)
    for t in reversed(range(T)):
        zc, th = cache.Z[t, :C], cache.TH[t]
        y_in, y_out = cache.R[t + 1, C:2 * C:P], cache.R[t + 1, 2 * C:3 * C:P]    # (N, K, B)
        dyc = dY[:C] + dYC[t]
        ds = ds + (blocks(dyc * (0.5 * a_h) * (1 - th ** 2)) * y_out[:, None]).reshape(C, K, B)
        dy_out = dY[C + N:] + blocks(dyc * a_h * th).sum(1)
        dy_in = dY[C:C + N] + blocks(ds * a_g * zc).sum(1)
        dNET[t, :C] = (blocks(ds * (0.5 * a_g) * (1 - zc ** 2)) * y_in[:, None]).reshape(C, K, B)
        dNET[t, C:C + N] = dy_in * y_in * (1 - y_in)
        dNET[t, C + N:] = dy_out * y_out * (1 - y_out)
        dY = np.matmul(Wr, dNET[t].transpose(1, 0, 2)).transpose(1, 0, 2)
    return _lstm97_weight_grads(grads, cache, dNET)


# ----------------------------------------------------------------------------
# model dispatch, loss, optimisers

def forward(cfg, params, X, lengths):
    if cfg.cell == "lstm":
        return lstm_forward(params, X, lengths, forget_gate=cfg.forget_gate, output=cfg.output,
                            output_error=cfg.output_error)
    return lstm97_forward(params, X, lengths, squash=SQUASH[cfg.squash], delay=int(cfg.output_reads == "previous"),
                          output=cfg.output, output_error=cfg.output_error)


def backward(cfg, params, cache, dy):
    if cfg.cell == "lstm":
        return lstm_backward(params, cache, dy)
    return lstm97_backward(params, cache, dy, truncated=cfg.gradient == "truncated")


def loss_grad(cfg, err):
    """err = y - target (K, B) -> dLoss/dy. Adam minimises the batch MSE (as the
    reference); SGD follows the paper's eq. (19): the gradient of (y - target)^2 / 2
    per sequence, averaged over the batch, so lr means what the paper's lr means;
    error_factor 2 reads eqs. (16)-(17) literally (the gradient of (y - target)^2)."""
    return err * ((cfg.error_factor if cfg.optimizer == "sgd" else 2.0) / err.shape[1])


def update(cfg, params, grads, opt, idx=slice(None)):
    """The optimiser step of cfg for the trials idx (grads hold just those)."""
    if cfg.optimizer == "adam":
        adam_step(params, grads, opt, cfg.lr, idx)
    elif cfg.optimizer == "rmsprop":
        rmsprop_step(params, grads, opt, cfg.lr, idx)
    else:
        sgd_step(params, grads, cfg.lr, idx)


def optimizer_state(cfg, params):
    """What the optimiser carries from step to step: Adam's moments m, v and
    step count t; RMSprop's mean square v; nothing for SGD. Every array has the
    trial axis first."""
    if cfg.optimizer == "adam":
        return adam_init(params)
    if cfg.optimizer == "rmsprop":
        return {"v": {k: np.zeros_like(v) for k, v in params.items()}}
    return None


def adam_init(params):
    K = params["wy"].shape[0]
    return {"m": {k: np.zeros_like(v) for k, v in params.items()},
            "v": {k: np.zeros_like(v) for k, v in params.items()},
            "t": np.zeros(K, np.int64)}


def grad_norm(grads):
    """Global L2 norm per trial -> (K,)."""
    K = grads["wy"].shape[0]
    return np.sqrt(sum((g.reshape(K, -1).astype(np.float64) ** 2).sum(1) for g in grads.values()))


def _per_trial(v, like):
    return v.reshape((-1,) + (1,) * (like.ndim - 1))


def clip_grads(grads, clip):
    """Scale each trial's gradients so their global norm is at most clip."""
    if clip <= 0:
        return grads
    scale = np.minimum(1.0, clip / np.maximum(grad_norm(grads), 1e-12))
    return {k: g * _per_trial(scale, g).astype(g.dtype) for k, g in grads.items()}


def adam_step(params, grads, state, lr, idx=slice(None), b1=0.9, b2=0.999, eps=1e-8):
    """One Adam step for the trials idx (grads hold just those); the others are untouched."""
    state["t"][idx] += 1
    t = state["t"][idx]
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t                      # bias corrections of these trials
    for k, g in grads.items():
        m = b1 * state["m"][k][idx] + (1 - b1) * g
        v = b2 * state["v"][k][idx] + (1 - b2) * g * g
        state["m"][k][idx], state["v"][k][idx] = m, v
        step = lr * (m / _per_trial(c1, g)) / (np.sqrt(v / _per_trial(c2, g)) + eps)
        params[k][idx] -= step.astype(g.dtype)


def rmsprop_step(params, grads, state, lr, idx=slice(None), alpha=0.99, eps=1e-8):
    """One RMSprop step for the trials idx, as torch.optim.RMSprop's defaults:
    v = alpha v + (1 - alpha) g^2, w -= lr g / (sqrt(v) + eps); no momentum, not centred."""
    for k, g in grads.items():
        v = state["v"][k][idx]                     # a view when every trial trains, else a copy written back
        v *= alpha
        v += np.multiply(g, 1 - alpha) * g
        state["v"][k][idx] = v
        den = np.sqrt(v)
        den += eps
        step = np.multiply(g, lr)
        step /= den
        params[k][idx] -= step.astype(g.dtype, copy=False)


def sgd_step(params, grads, lr, idx=slice(None)):
    for k, g in grads.items():
        params[k][idx] -= lr * g


# ----------------------------------------------------------------------------
# evaluation

def make_test_set(cfg):
    """The fixed held-out set: n_test sequences from the test seed's own generator.
    Reference distribution: all of length eval_T; paper: the training lengths."""
    rng = rng_for(cfg.test_seed, 2)
    if cfg.dist == "reference":
        return make_sequences(rng, cfg.n_test, cfg, cfg.eval_T, cfg.eval_T)
    return make_sequences(rng, cfg.n_test, cfg)


def predict(cfg, params, X, lengths, chunk=64):
    """One shared set X (T, n, D), lengths (n,) through every trial -> y (K, n),
    `chunk` sequences at a time (64 keep each step's arrays in cache). The bits
    do not depend on the chunk unless one holds a single sequence (tested)."""
    K = params["wy"].shape[0]
    out = []
    for i in range(0, X.shape[1], chunk):
        L = lengths[i:i + chunk]
        Xc = X[: L.max(), None, i:i + chunk].astype(params["wy"].dtype)
        out.append(forward(cfg, params, Xc, np.broadcast_to(L, (K, len(L))))[0])
    return np.concatenate(out, axis=1)


def evaluate(cfg, params, test):
    """-> test MSE (K,), sequences with |error| > 0.04 (K,)."""
    X, L, y = test
    err = predict(cfg, params, X, L).astype(np.float64) - y
    return (err ** 2).mean(1), (np.abs(err) > CORRECT_ABS_ERR).sum(1)


def take_trials(params, idx):
    return {name: v[idx] for name, v in params.items()}


# ----------------------------------------------------------------------------
# training loop

INTERRUPTS = []   # signals received; the training loop stops at the next iteration

def _on_signal(signum, frame):
    INTERRUPTS.append(signum)
    import multiprocessing
    for child in multiprocessing.active_children():   # workers stop and return what they have
        os.kill(child.pid, signum)


def catch_interrupts():
    INTERRUPTS.clear()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


@dataclass
class TrainState:
    """Everything a lockstep run needs to go on exactly where it left off."""
    seeds: list
    params: dict                  # (K, ...) per weight array
    opt: dict                     # Adam's m, v, t; None for SGD
    streams: list                 # one Stream per trial
    active: np.ndarray            # (K,) still training
    stopped_at: np.ndarray        # (K,) iteration of the stop (or of the last good step)
    reached: np.ndarray           # (K,) stopped by its target or the paper rule
    faults: list                  # per trial: None, or why it was stopped
    losses: list                  # (K,) mean training MSE per loss_every iterations
    loss_acc: np.ndarray          # (K,) sum since the last recorded loss
    curve: list                   # (iteration, test MSE (K,), wrong (K,))
    recent: np.ndarray            # (K, WINDOW) |error| of the latest training sequences
    n_wrong: np.ndarray           # (K,) of those, how many above 0.04
    stops: list                   # per trial: the paper stopping points reached
    snapshots: list               # (iteration, params) for the GIF; single runs only
    it: int = 0
    elapsed: float = 0.0
    stretches: list = dataclasses.field(default_factory=list)   # one per run_until call: see start_stretch
    stacked: tuple = None         # (chunk ids, the running trials' current chunks stacked): lockstep_batch; not saved
    cpu_start: float = 0.0        # this process's CPU seconds when the latest stretch began; not saved


def new_state(cfg, seeds):
    K = len(seeds)
    params = init_params(cfg, seeds)
    return TrainState(
        seeds=list(seeds), params=params, opt=optimizer_state(cfg, params),
        streams=[Stream(cfg, rng_for(s, 1)) for s in seeds], active=np.ones(K, bool),
        stopped_at=np.zeros(K, np.int64), reached=np.zeros(K, bool), faults=[None] * K,
        losses=[], loss_acc=np.zeros(K), curve=[], recent=np.full((K, WINDOW), np.inf),
        n_wrong=np.full(K, WINDOW), stops=[{} for _ in range(K)],
        snapshots=[(0, {k: v.copy() for k, v in params.items()})] if K == 1 and cfg.snapshot_every else [])


def snapshot_interval(cfg, snapshots):
    return snapshots[1][0] - snapshots[0][0] if len(snapshots) > 1 else cfg.snapshot_every


def all_finite(arrays, n):
    """(n,) True where every array is finite for that trial. A finite sum of each
    array says so for all at once; an infinite or NaN one (a non-finite value, or
    a sum that overflows) is looked at trial by trial."""
    with np.errstate(over="ignore", invalid="ignore"):
        if all(math.isfinite(a.sum()) for a in arrays):
            return np.ones(n, bool)
    return np.logical_and.reduce([np.isfinite(a.reshape(n, -1)).all(1) for a in arrays])


def record_test(cfg, st, test, it, idx):
    """Test the trials idx at iteration it; the stopped ones keep their last result."""
    K = len(st.seeds)
    mse, wrong = (st.curve[-1][1].copy(), st.curve[-1][2].copy()) if st.curve else (np.zeros(K), np.zeros(K, int))
    mse[idx], wrong[idx] = evaluate(cfg, take_trials(st.params, idx), test)
    st.curve.append((it, mse, wrong))
    return mse


def freeze(cfg, st, k, it, success, log):
    """Trial k stops at iteration it; the others go on."""
    st.active[k], st.stopped_at[k], st.reached[k] = False, it, success
    if len(st.seeds) > 1 and not cfg.quiet:
        log(f"trial seed {st.seeds[k]} stopped at iteration {it:,d} ({it * cfg.batch_size:,d} sequences)"
            + (f", test MSE {st.curve[-1][1][k]:.5f}" if cfg.stop == "test_mse" else
               ", " + ", ".join(f"stop {n}: {s['sequences']:,d} seq, MSE {s['test_mse']:.4f}, "
                                f"{s['test_wrong']} wrong" for n, s in st.stops[k].items())))


def fault(st, k, it, what, log):
    st.active[k], st.stopped_at[k] = False, it - 1
    st.faults[k] = f"non-finite {what} at iteration {it}; trial stopped with the weights of iteration {it - 1}"
    log(f"seed {st.seeds[k]}: {st.faults[k]}")


def train_step(cfg, st, it, log):
    """Iteration it of every running trial: forward -> backward -> update.
    Returns the training errors (K, B), zero for stopped trials, and the step count T."""
    K, dtype = len(st.seeds), np.dtype(cfg.dtype)
    ids = np.flatnonzero(st.active)                # the stopped trials drop out of the arrays
    idx = slice(None) if len(ids) == K else ids
    P = take_trials(st.params, idx)
    X, L, y_true = lockstep_batch(st, ids, dtype)
    y, cache = forward(cfg, P, X, L)
    err = np.zeros((K, cfg.batch_size))
    err[ids] = y - y_true
    grads = clip_grads(backward(cfg, P, cache, loss_grad(cfg, err[ids]).astype(dtype)), cfg.clip)
    ok = all_finite([err[ids], *grads.values()], len(ids))
    if not ok.all():
        for k in ids[~ok]:
            fault(st, k, it, "loss" if not np.isfinite(err[k]).all() else "gradient", log)
        idx = ids[ok]
        grads = {k: g[ok] for k, g in grads.items()}
        err[~st.active] = 0.0
    update(cfg, st.params, grads, st.opt, idx)
    return err, X.shape[0]


def train(cfg, seeds, log=print, state=None, checkpoint=None):
    """Train one network per seed in lockstep on the trial axis.

    Every trial has its own weights, data stream, optimiser state and stopping
    point; a stopped trial drops out while the others go on. `state` resumes
    a run; `checkpoint(state)` is called every cfg.checkpoint_every iterations,
    on an interrupt and when the last trial stops. Returns the final params
    (K first) and one result dict per seed.
    """
    st = state if state is not None else new_state(cfg, seeds)
    test = make_test_set(cfg)
    start = time.perf_counter() - st.elapsed
    if not st.curve:
        record_test(cfg, st, test, 0, slice(None))
    run_until(cfg, st, test, cfg.max_iters, log, checkpoint)
    return finish(cfg, st, time.perf_counter() - start, test)


def run_until(cfg, st, test, last, log, checkpoint=None):
    """Train st from iteration st.it + 1 to `last`, or until every trial has
    stopped or a signal arrives. The bookkeeping around train_step: the
    training loss, the paper's window and stop, the held-out tests, snapshots,
    progress lines and checkpoints."""
    K, B = len(st.seeds), cfg.batch_size
    n_seq = sorted(cfg.n_seq, reverse=True)
    stop = functools.partial(freeze, cfg, st, log=log)
    start, last_print, it0, t0 = time.perf_counter() - st.elapsed, 0.0, st.it, time.perf_counter()
    start_stretch(st)
    for it in range(st.it + 1, last + 1):
        if not st.active.any():
            break
        err, T = train_step(cfg, st, it, log)
        st.loss_acc += (err ** 2).mean(1)
        if it % cfg.loss_every == 0:
            st.losses.append(st.loss_acc / cfg.loss_every)
            st.loss_acc = np.zeros(K)

        if cfg.stop == "paper":
            window_push(st.recent, st.n_wrong, (it - 1) * B, np.abs(err), st.active)
            _paper_stop_check(cfg, it, st, test, n_seq, stop)
        if it % cfg.eval_every == 0 and st.active.any():
            mse = record_test(cfg, st, test, it, np.flatnonzero(st.active))
            if cfg.stop == "test_mse":
                for k in np.flatnonzero(st.active & (mse < cfg.target_test_mse)):
                    stop(k, it, True)
        if st.snapshots and st.active[0] and it % snapshot_interval(cfg, st.snapshots) == 0:
            st.snapshots.append((it, {k: v.copy() for k, v in st.params.items()}))
            if len(st.snapshots) > 2 * SNAPSHOTS:
                st.snapshots = st.snapshots[::2]     # thin out: twice the interval from here on
        st.it = it
        now = time.perf_counter() - start
        done = not st.active.any()
        if not cfg.quiet and (now - last_print > 2.0 or done or it == cfg.max_iters):
            last_print = now
            _progress(log, cfg, st, T, (it - it0) * B / max(time.perf_counter() - t0, 1e-9))
        if checkpoint and (INTERRUPTS or done or it == cfg.max_iters or
                           cfg.checkpoint_every and it % cfg.checkpoint_every == 0):
            clock(st, now)
            checkpoint(st)
        if done or INTERRUPTS:
            break
    clock(st, time.perf_counter() - start)


def start_stretch(st):
    """A stretch is one uninterrupted piece of a run in one process: its
    iterations and the run's elapsed seconds [from, to], the CPU seconds the
    process spent on it, how many trials the process held, the date and the
    processor, so that a run resumed on several days reports how fast each
    piece went (sweep.json's "stretches"). The CPU seconds leave out the time
    the process waited for a core or was stopped (SIGSTOP); the elapsed
    seconds count it."""
    st.cpu_start = time.process_time()
    st.stretches.append({"iterations": [st.it, st.it], "elapsed_sec": [st.elapsed, st.elapsed], "cpu_sec": 0.0,
                         "trials": len(st.seeds), "date": time.strftime("%Y-%m-%d"), "processor": cpu_name()})


def clock(st, elapsed):
    """The run's elapsed seconds are `elapsed` at iteration st.it: the latest stretch ends here."""
    st.elapsed = elapsed
    latest = st.stretches[-1]
    latest["iterations"][1], latest["elapsed_sec"][1] = st.it, elapsed
    latest["cpu_sec"] = time.process_time() - st.cpu_start


def finish(cfg, st, elapsed, test):
    """Results of the run as it stands: the still-running trials end at st.it."""
    B, it = cfg.batch_size, st.it
    if st.curve[-1][0] != it and st.active.any():
        record_test(cfg, st, test, it, np.flatnonzero(st.active))
    stopped_at = np.where(st.active, it, st.stopped_at)
    snapshots = list(st.snapshots)
    if snapshots and snapshots[-1][0] != stopped_at[0]:
        snapshots.append((int(stopped_at[0]), {k: v.copy() for k, v in st.params.items()}))
    results = []
    for k, seed in enumerate(st.seeds):
        # a trial's final test is the last evaluation at or before its stop
        at = [c for c in st.curve if c[0] <= stopped_at[k]]
        results.append({
            "seed": int(seed), "reached_target": bool(st.reached[k]),
            "iterations": int(stopped_at[k]), "sequences_seen": int(stopped_at[k] * B),
            "final_test_mse": float(at[-1][1][k]), "final_test_wrong": int(at[-1][2][k]),
            "test_curve": [[int(c[0]), int(c[0] * B), float(c[1][k]), int(c[2][k])] for c in at],
            "train_losses": [float(l[k]) for l in st.losses[: stopped_at[k] // cfg.loss_every]],
            "stops": st.stops[k], "fault": st.faults[k],
        })
    return {"params": st.params, "results": results, "elapsed_sec": elapsed, "iterations": it,
            "snapshots": snapshots, "interrupted": bool(INTERRUPTS), "stretches": st.stretches}


def _progress(log, cfg, st, T, rate):
    """One progress line; `rate` is sequences per second since this process started."""
    it, active = st.it, st.active
    recent = st.losses[-1] if st.losses else st.loss_acc / max(1, it % cfg.loss_every)
    eta = (cfg.max_iters - it) * cfg.batch_size / max(rate, 1e-9)
    K = len(active)
    test = np.median(st.curve[-1][1])
    trials = f" | stopped {K - active.sum()}/{K}" if K > 1 else ""
    log(f"iter {it:>8d} | T {T:>4d} | train MSE {np.median(recent):.5f} | test MSE {test:.5f} "
        f"@{st.curve[-1][0]} | {rate:,.0f} seq/s{trials} | ETA <= {_fmt_secs(eta)}")


def _fmt_secs(s):
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


# ----------------------------------------------------------------------------
# the paper's stopping rules

def window_push(recent, n_wrong, first, err_abs, active):
    """Write each running trial's latest |errors| err_abs (K, B) into its ring of
    the WINDOW most recent training sequences (sequence number i in slot
    i % WINDOW; `first` numbers the batch's first sequence) and update the count
    above 0.04 incrementally. Stopped trials keep their window. Needs B <= WINDOW
    (validate refuses larger batches under the paper rule)."""
    B, start = err_abs.shape[1], first % WINDOW
    slot = slice(start, start + B) if start + B <= WINDOW else (first + np.arange(B)) % WINDOW
    old = recent[:, slot]
    new = np.where(active[:, None], err_abs, old)
    n_wrong += (new > CORRECT_ABS_ERR).sum(1) - (old > CORRECT_ABS_ERR).sum(1)
    recent[:, slot] = new


def near_stop(task, n_wrong, n_seq):
    """(K,) True where a paper stopping point is possible: every rule of
    paper_stop_points needs fewer than this many wrong in the window."""
    return n_wrong < (max(n_seq) if task == "multiplication" else 1)


def paper_stop_points(task, recent, n_wrong, n_seq):
    """The paper's stopping rules on the windows (K, WINDOW) -> {stop key: (K,) bool}.
    adding: all within 0.04 and their mean squared error below 0.01 ("all_correct").
    multiplication: fewer than n of them beyond 0.04, for each n in n_seq."""
    if task == "adding":
        ok = n_wrong == 0
        ok[ok] = (recent[ok] ** 2).mean(1) < 0.01
        return {"all_correct": ok}
    return {str(n): n_wrong < n for n in n_seq}


def _paper_stop_check(cfg, it, st, test, n_seq, stop):
    """Record each stopping point a running trial reaches now; stop it at the last."""
    if not (st.active & near_stop(cfg.task, st.n_wrong, n_seq)).any():
        return
    seen = it * cfg.batch_size
    points = paper_stop_points(cfg.task, st.recent, st.n_wrong, n_seq)
    for k in np.flatnonzero(st.active & np.logical_or.reduce(list(points.values()))):
        for key, reached in points.items():
            if reached[k] and key not in st.stops[k]:
                st.stops[k][key] = _stop_record(cfg, st.params, k, seen, test)
        if all(key in st.stops[k] for key in points):
            stop(k, it, True)


def _stop_record(cfg, params, k, seen, test):
    mse, wrong = evaluate(cfg, take_trials(params, [k]), test)
    return {"sequences": int(seen), "test_mse": float(mse[0]), "test_wrong": int(wrong[0]),
            "n_test": int(cfg.n_test)}


# ----------------------------------------------------------------------------
# lockstep workers: seed groups, one process each

def seed_groups(seeds, workers):
    """The lockstep groups: `workers` contiguous slices of the seed list."""
    workers = max(1, min(workers, len(seeds)))
    return [[int(x) for x in g] for g in np.array_split(np.array(seeds), workers)]


def checkpoint_path(save_dir, group, n_groups):
    return os.path.join(save_dir, "checkpoint.npz" if n_groups == 1 else
                        f"checkpoint-seeds-{group[0]}-{group[-1]}.npz")


def train_parallel(cfg, seeds, workers, save_dir, log=print, states=None):
    """Split the seeds into `workers` lockstep groups, one process each, each
    checkpointing into save_dir. Per-seed results do not depend on the grouping."""
    groups = seed_groups(seeds, workers)
    states = states or [None] * len(groups)
    paths = [checkpoint_path(save_dir, g, len(groups)) for g in groups]
    jobs = [(cfg, g, i, states[i], paths[i]) for i, g in enumerate(groups)]
    if len(groups) == 1:
        return {**_train_group(*jobs[0], log=log), "checkpoints": paths}
    import multiprocessing
    pool = multiprocessing.get_context("fork").Pool(len(groups))
    try:
        parts = pool.starmap(_train_group, jobs)
    finally:
        # close + join, not terminate: workers keep our SIGTERM handler, so a
        # terminate would leave an idle worker waiting on its queue forever
        pool.close()
        pool.join()
    return {**merge_parts(parts), "checkpoints": paths}


def merge_parts(parts):
    """The lockstep groups' results as one run's."""
    params = {k: np.concatenate([p["params"][k] for p in parts]) for k in parts[0]["params"]}
    return {"params": params, "results": [r for p in parts for r in p["results"]],
            "elapsed_sec": max(p["elapsed_sec"] for p in parts),
            "iterations": max(p["iterations"] for p in parts), "snapshots": [],
            "stretches": max(parts, key=lambda p: p["iterations"])["stretches"],      # the groups ran side by side
            "interrupted": any(p["interrupted"] for p in parts)}


def _train_group(cfg, seeds, i, state, ckpt, log=None):
    if log is None:
        log = lambda s: print(f"[group {i}] {s}", flush=True)
    return train(cfg, seeds, log, state, checkpoint=lambda st: save_checkpoint(ckpt, cfg, st))


def drop_replaced_checkpoints(save_dir):
    """Before a fresh run in save_dir: the checkpoints of the run it replaces go, so
    that none is ever resumed into the new one."""
    for path in checkpoint_files(save_dir):
        os.unlink(path)


def still_running(out):
    """Trials that neither reached their stop nor faulted: the budget ended them."""
    return [r["seed"] for r in out["results"] if not r["reached_target"] and r["fault"] is None]


def drop_checkpoints(out):
    """After a finished run's results are saved: a run whose trials all stopped
    has nothing left to resume. A run whose budget ended some trials keeps its
    checkpoints, so that --resume --max-iters LARGER goes on with them."""
    if not out["interrupted"] and not still_running(out):
        for path in out["checkpoints"]:
            if os.path.exists(path):
                os.unlink(path)


# ----------------------------------------------------------------------------
# beyond one machine: the lockstep groups as tasks on a Dask cluster (--scheduler).
# A task trains one group for one stretch of iterations, a pure function of the
# group's state (checkpoint bytes in, checkpoint bytes out); the client writes
# each group's checkpoint as its stretch returns. A worker lost mid-stretch costs
# that stretch: Dask runs the task again from the same state, to the same bits.

class ClusterError(Exception):
    """The cluster failed the run (a task that killed its worker on every try, a
    worker with other code): one line, exit 2; the checkpoints written so far stay."""


def code_version():
    """sha256 of this file: a worker must run the client's code, or its bits could differ."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_stretch(blob, last, version):
    """Cluster task: the group in checkpoint bytes `blob`, trained up to iteration
    `last` (or until its trials stop) -> (its checkpoint bytes, the lines it logged)."""
    if version != code_version():
        raise ClusterError(f"worker {platform.node()} runs other code than the client (multiplication_problem.py "
                           f"sha256 {code_version()[:12]}, the client's {version[:12]})")
    cfg, st = load_checkpoint(io.BytesIO(blob))
    test = make_test_set(cfg)
    if not st.curve:
        record_test(cfg, st, test, 0, slice(None))
    lines = []
    run_until(cfg, st, test, last, lines.append)           # its progress lines are dropped by the client
    return checkpoint_bytes(cfg, st), lines


def connect(address, timeout=10):
    """A dask.distributed Client of the scheduler at `address` with at least one
    worker, the client's copy of this file sent to every worker (UsageError if
    there is no such scheduler or no worker joins)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler: needs dask and distributed (pip install -r requirements.txt)")
    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as e:                                   # refused, timed out, an unknown protocol
        raise UsageError(f"--scheduler: cannot reach {address} ({type(e).__name__}: {e})".splitlines()[0])
    try:
        client.wait_for_workers(1, timeout=6 * timeout)
    except Exception as e:
        client.close()
        raise UsageError(f"--scheduler: no worker joined {address} within {6 * timeout} s ({type(e).__name__})")
    try:
        client.upload_file(os.path.abspath(__file__))        # workers run the client's code
    except Exception as e:                                   # e.g. a worker without numpy cannot import it
        client.close()
        raise UsageError(f"--scheduler: the workers of {address} cannot load multiplication_problem.py "
                         f"({type(e).__name__}: {e})".splitlines()[0])
    return client


def train_on_cluster(cfg, seeds, workers, save_dir, client, log=print, states=None):
    """train_parallel's result, each lockstep group trained on the cluster in
    stretches of --checkpoint-every iterations (--eval-every if 0)."""
    import multiplication_problem as engine                  # by this name, so that workers find run_stretch
    groups = seed_groups(seeds, workers)
    paths = [checkpoint_path(save_dir, g, len(groups)) for g in groups]
    states = states or [new_state(cfg, g) for g in groups]
    every, version = cfg.checkpoint_every or cfg.eval_every, code_version()
    going = lambda st: st.active.any() and st.it < cfg.max_iters
    started = [time.perf_counter()] * len(groups)

    def submit(i):
        started[i] = time.perf_counter()
        return client.submit(engine.run_stretch, checkpoint_bytes(cfg, states[i]),
                             min(cfg.max_iters, states[i].it + every), version, pure=False)

    running = {submit(i): i for i, st in enumerate(states) if going(st)}
    try:
        while running and not INTERRUPTS:
            done = [f for f in running if f.done()]
            if not done:
                time.sleep(0.1)                              # a signal (Ctrl-C) is seen between sleeps
            for future in done:
                i = running.pop(future)
                before = states[i].it
                try:
                    blob, lines = future.result()
                except Exception as e:
                    raise ClusterError(f"group {i} (seeds {','.join(map(str, groups[i]))}) failed on the cluster "
                                       f"({type(e).__name__}: {e})".splitlines()[0])
                states[i] = load_checkpoint(io.BytesIO(blob))[1]
                save_checkpoint(paths[i], cfg, states[i])
                glog = lambda line, i=i: log(f"[group {i}] {line}")
                for line in lines:
                    if not line.startswith("iter "):
                        glog(line)
                if not cfg.quiet:
                    rate = (states[i].it - before) * cfg.batch_size / max(time.perf_counter() - started[i], 1e-9)
                    _progress(glog, cfg, states[i], cfg.T_max, rate)
                if going(states[i]):
                    running[submit(i)] = i
    finally:
        try:
            client.cancel(list(running))
        except Exception:                   # a client whose connection is gone has nothing left to cancel
            pass
    test = make_test_set(cfg)
    for path, st in zip(paths, states):
        if not st.curve:                    # interrupted before its first stretch returned: its test at 0, as
            record_test(cfg, st, test, 0, slice(None))      # train's, and a checkpoint that --resume reads
            save_checkpoint(path, cfg, st)
    parts = [finish(cfg, st, st.elapsed, test) for st in states]
    return {**merge_parts(parts), "checkpoints": paths}


# ----------------------------------------------------------------------------
# regrouping: trials are independent, so a checkpoint of any lockstep grouping
# can be split and merged into any other

def select_trials(st, ks):
    """The lockstep state of the trials ks (positions in st) on their own."""
    ks = list(ks)
    sub = lambda arrays: {name: a[ks] for name, a in arrays.items()}
    return TrainState(
        seeds=[st.seeds[k] for k in ks], params=sub(st.params),
        opt=None if st.opt is None else {name: sub(v) if isinstance(v, dict) else v[ks] for name, v in st.opt.items()},
        streams=[st.streams[k] for k in ks], active=st.active[ks], stopped_at=st.stopped_at[ks],
        reached=st.reached[ks], faults=[st.faults[k] for k in ks], losses=[l[ks] for l in st.losses],
        loss_acc=st.loss_acc[ks], curve=[(i, m[ks], w[ks]) for i, m, w in st.curve], recent=st.recent[ks],
        n_wrong=st.n_wrong[ks], stops=[st.stops[k] for k in ks], snapshots=[], it=st.it, elapsed=st.elapsed,
        stretches=copy.deepcopy(st.stretches))


def merge_states(cfg, states):
    """One lockstep state of several groups' trials, in the order given. A group
    behind the furthest must have no running trial (catch it up first); its
    record is extended as the lockstep run would have extended it: a stopped
    trial keeps its last test result and adds no training loss."""
    it = max(s.it for s in states)
    if any(s.it != it and s.active.any() for s in states):
        raise ValueError("merge_states: a group with running trials is behind; catch it up first")
    its = sorted({c[0] for s in states for c in s.curve})

    def curve_at_its(s):
        j, out = 0, []
        for t in its:
            while j + 1 < len(s.curve) and s.curve[j + 1][0] <= t:
                j += 1
            out.append(s.curve[j])
        return out

    def losses_to_it(s):
        losses, acc = list(s.losses), s.loss_acc
        while len(losses) < it // cfg.loss_every:
            losses.append(acc / cfg.loss_every)
            acc = np.zeros_like(acc)
        return losses, acc

    curves = [curve_at_its(s) for s in states]
    losses = [losses_to_it(s) for s in states]
    cat = lambda arrays: np.concatenate(arrays)
    cat_dict = lambda dicts: {k: cat([d[k] for d in dicts]) for k in dicts[0]}
    opts = [s.opt for s in states]
    return TrainState(
        seeds=[x for s in states for x in s.seeds], params=cat_dict([s.params for s in states]),
        opt=None if opts[0] is None else {name: cat_dict([o[name] for o in opts]) if isinstance(v, dict) else
                                          cat([o[name] for o in opts]) for name, v in opts[0].items()},
        streams=[x for s in states for x in s.streams], active=cat([s.active for s in states]),
        stopped_at=cat([s.stopped_at for s in states]), reached=cat([s.reached for s in states]),
        faults=[x for s in states for x in s.faults],
        losses=[cat([l[0][n] for l in losses]) for n in range(it // cfg.loss_every)],
        loss_acc=cat([l[1] for l in losses]),
        curve=[(t, cat([c[n][1] for c in curves]), cat([c[n][2] for c in curves])) for n, t in enumerate(its)],
        recent=cat([s.recent for s in states]), n_wrong=cat([s.n_wrong for s in states]),
        stops=[x for s in states for x in s.stops], snapshots=[], it=it, elapsed=max(s.elapsed for s in states),
        stretches=max(states, key=lambda s: s.it).stretches)   # the furthest group's, as train_parallel reports


def regroup(cfg, states, groups, log):
    """States of one lockstep grouping -> the states of `groups` (lists of seeds),
    all at the furthest group's iteration. A group behind it trains up to it
    first; since the trials are independent this changes no result."""
    it = max(s.it for s in states)
    test = make_test_set(cfg)
    for s in states:
        if s.it < it and s.active.any():
            log(f"regrouping: training seeds {','.join(map(str, s.seeds))} from iteration {s.it:,d} up to {it:,d}")
            run_until(dataclasses.replace(cfg, quiet=True), s, test, it, log)
    merged = merge_states(cfg, states)
    position = {seed: k for k, seed in enumerate(merged.seeds)}
    return [select_trials(merged, [position[seed] for seed in g]) for g in groups]


# ----------------------------------------------------------------------------
# checkpoints: arrays in one .npz, everything else as JSON inside it

def save_checkpoint(path, cfg, st):
    save_npz(path, checkpoint_arrays(cfg, st))


def checkpoint_bytes(cfg, st):
    """The checkpoint file's bytes, for a state that travels to a cluster worker and back."""
    f = io.BytesIO()
    np.savez(f, **checkpoint_arrays(cfg, st))
    return f.getvalue()


def checkpoint_arrays(cfg, st):
    K = len(st.seeds)
    a = {"p." + k: v for k, v in st.params.items()}
    if st.opt is not None:
        for name, v in st.opt.items():     # m.Wx, v.Wx, ... per weight array; Adam's step count as opt_t
            a.update({f"{name}.{k}": x for k, x in v.items()} if isinstance(v, dict) else {f"opt_{name}": v})
    a.update(active=st.active, stopped_at=st.stopped_at, reached=st.reached, loss_acc=st.loss_acc,
             recent=st.recent, n_wrong=st.n_wrong, losses=np.array(st.losses).reshape(-1, K),
             curve_it=np.array([c[0] for c in st.curve]), curve_mse=np.array([c[1] for c in st.curve]),
             curve_wrong=np.array([c[2] for c in st.curve]),
             snap_it=np.array([s[0] for s in st.snapshots], np.int64))
    for k in st.params:
        if st.snapshots:
            a["s." + k] = np.stack([s[1][k] for s in st.snapshots])
    meta = {"version": CHECKPOINT_VERSION, "config": config_dict(cfg), "seeds": st.seeds, "it": st.it,
            "elapsed": st.elapsed, "stretches": st.stretches, "stops": st.stops, "faults": st.faults,
            "streams": [{"rng": s.rng.bit_generator.state, "chunk_state": s.state, "pos": s.pos}
                        for s in st.streams]}
    a["meta"] = np.array(json.dumps(meta))
    return a


def load_checkpoint(path):
    """-> (cfg, TrainState). Raises RunError if the file is not a checkpoint of ours.
    `path` may also be a file object (a checkpoint's bytes from a cluster worker)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        meta = json.loads(str(a["meta"]))
        if meta.get("version") != CHECKPOINT_VERSION:
            raise RunError(f"{path} is version {meta.get('version')!r}, this code reads {CHECKPOINT_VERSION}")
        cfg = config_from_dict(meta["config"])
        keys = [k[2:] for k in a if k.startswith("p.")]
        streams = []
        for d in meta["streams"]:
            s = Stream(cfg, np.random.default_rng())
            if d["chunk_state"] is not None:      # regenerate the chunk being handed out
                s.rng.bit_generator.state = d["chunk_state"]
                s.draw()
                s.pos = d["pos"]
            s.rng.bit_generator.state = d["rng"]
            streams.append(s)
        opt = None
        if cfg.optimizer != "sgd":
            opt = {name: ({k: a[f"{name}.{k}"] for k in keys} if isinstance(v, dict) else a[f"opt_{name}"])
                   for name, v in optimizer_state(cfg, {k: a["p." + k] for k in keys}).items()}
        st = TrainState(
            seeds=meta["seeds"], params={k: a["p." + k] for k in keys}, opt=opt, streams=streams,
            active=a["active"], stopped_at=a["stopped_at"], reached=a["reached"], faults=meta["faults"],
            losses=list(a["losses"]), loss_acc=a["loss_acc"],
            curve=[(int(i), m, w) for i, m, w in zip(a["curve_it"], a["curve_mse"], a["curve_wrong"])],
            recent=a["recent"], n_wrong=a["n_wrong"], stops=meta["stops"],
            snapshots=[(int(i), {k: a["s." + k][j] for k in keys}) for j, i in enumerate(a["snap_it"])],
            it=meta["it"], elapsed=meta["elapsed"], stretches=meta.get("stretches", []))   # none before 2026-11-30
    except RunError:
        raise
    except Exception as e:
        raise RunError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})".splitlines()[0])
    return cfg, st


def checkpoint_files(save_dir):
    """The checkpoints in save_dir, as paths."""
    if not os.path.isdir(save_dir):
        return []
    return [os.path.join(save_dir, f) for f in sorted(os.listdir(save_dir))
            if f.startswith("checkpoint") and f.endswith(".npz")]


def load_checkpoints(cfg, seeds, workers, save_dir, log=print):
    """The states to resume a run of `seeds` with `workers` lockstep groups from
    the checkpoints in save_dir, whatever grouping wrote them (UsageError if
    there are none, or they hold other seeds or were made with other settings).
    The budget (--max-iters) may differ: it bounds the run, it does not change
    a step. A checkpoint of another grouping is regrouped and written anew."""
    paths = checkpoint_files(save_dir)
    if not paths:
        finished = held_runs(save_dir)[1]
        raise UsageError(f"--resume: the run in {save_dir}/ has finished, every trial stopped: nothing to continue"
                         if finished else f"--resume: no checkpoint in {save_dir}/")
    loaded = []
    for path in paths:
        try:
            saved, st = load_checkpoint(path)
        except RunError as e:
            raise UsageError(f"--resume: {e}")
        if not same_settings(saved, dataclasses.replace(cfg, max_iters=saved.max_iters)):   # the budget: below
            diff = [flag_name(f) for f in dataclasses.fields(Config) if f.name not in ("quiet", "checkpoint_every",
                    "max_iters") and getattr(saved, f.name) != getattr(cfg, f.name)]
            raise UsageError(f"--resume: {path} was made with other settings (differs in: {', '.join(diff)})")
        if cfg.max_iters < st.it:
            raise UsageError(f"--max-iters: {path} is at iteration {st.it:,d} already; give a budget of at least that")
        loaded.append((path, st))
    # a crash while regrouping can leave two copies of a seed: the newer grouping's
    # (at the furthest iteration) wins, the other files go with the regrouping below
    kept, stale = [], []
    for path, st in sorted(loaded, key=lambda p: (-p[1].it, -len(p[1].seeds))):
        clash = {x for _, k in kept for x in k.seeds} & set(st.seeds)
        (stale if clash else kept).append((path, st))
    kept.sort(key=lambda p: seeds.index(p[1].seeds[0]) if p[1].seeds[0] in seeds else -1)
    held = sorted(x for _, st in kept for x in st.seeds)
    if held != sorted(seeds):
        flag = "--seeds" if len(seeds) > 1 or len(held) > 1 else "--seed"
        raise UsageError(f"{flag}: the checkpoints in {save_dir}/ hold seeds {','.join(map(str, held))}, "
                         f"not {','.join(map(str, seeds))}")
    loaded = kept
    groups = seed_groups(seeds, workers)
    new_paths = [checkpoint_path(save_dir, g, len(groups)) for g in groups]
    if [st.seeds for _, st in loaded] == groups and [p for p, _ in loaded] == new_paths and not stale:
        return [st for _, st in loaded]
    states = regroup(cfg, [st for _, st in loaded], groups, log)
    for path, st in zip(new_paths, states):      # the new grouping's checkpoints first, then the old ones go
        save_checkpoint(path, cfg, st)
    for path, _ in loaded + stale:
        if path not in new_paths:
            os.unlink(path)
    return states


# ----------------------------------------------------------------------------
# files: runs, sweeps, the environment they ran on

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def environment():
    return {"python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "system": platform.system(),
            "processor": cpu_name(), "cpu_count": os.cpu_count(), "argv": sys.argv}


def atomic_write(path, write):
    """Write via a temporary file in the same folder, then rename over `path`. The
    temporary file is created like any other (mode 0o666 less the umask)."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_json(path, obj):
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def save_npz(path, arrays):
    atomic_write(path, lambda f: np.savez(f, **arrays))


def config_dict(cfg):
    d = dataclasses.asdict(cfg)
    d["n_seq"] = list(cfg.n_seq)
    return d


ADDED_FIELDS = {"chrono": False, "chrono_T": 0}   # Config fields newer than results version 2: older files mean these


def config_from_dict(d):
    names = {f.name for f in dataclasses.fields(Config)}
    d = {**{k: v for k, v in ADDED_FIELDS.items() if k not in d}, **d}
    if set(d) != names:
        raise ValueError(f"config keys differ from this code's: missing {sorted(names - set(d))}, "
                         f"unknown {sorted(set(d) - names)}")
    return Config(**{**d, "n_seq": tuple(d["n_seq"])})


def save_single(save_dir, cfg, out):
    """A single run: weights.npz, snapshots.npz, history.json."""
    os.makedirs(save_dir, exist_ok=True)
    r = out["results"][0]
    weights = {k: v[0] for k, v in out["params"].items()}
    save_npz(os.path.join(save_dir, "weights.npz"), weights)
    torch_path = os.path.join(save_dir, "weights_torch.npz")
    if cfg.cell == "lstm" and cfg.forget_gate:             # torch's LSTM always has a forget gate
        save_npz(torch_path, torch_state_dict(weights))
    elif os.path.exists(torch_path):
        os.unlink(torch_path)                              # never leave another run's weights beside these
    snap_path = os.path.join(save_dir, "snapshots.npz")
    if out["snapshots"]:
        its = np.array([s[0] for s in out["snapshots"]])
        snaps = {k: np.stack([s[1][k][0] for s in out["snapshots"]]) for k in out["params"]}
        save_npz(snap_path, {"iterations": its, **snaps})
    elif os.path.exists(snap_path):
        os.unlink(snap_path)                               # another run's snapshots would animate that run
    history = {"version": RESULTS_VERSION, "config": config_dict(cfg), **r,
               "interrupted": out["interrupted"],
               "elapsed_sec": out["elapsed_sec"], "stretches": out["stretches"], "chance_mse": chance_mse(cfg),
               "weights": int(sum(v[0].size for v in out["params"].values())),
               "env": environment()}
    save_json(os.path.join(save_dir, "history.json"), history)


def read_results(path):
    """A history.json or sweep.json of this schema -> (dict, Config); RunError if of another version."""
    with open(path) as f:
        d = json.load(f)
    if d.get("version") != RESULTS_VERSION:
        raise RunError(f"{path} is version {d.get('version')!r}, this code reads {RESULTS_VERSION}")
    return d, config_from_dict(d["config"])


def load_run(run_dir):
    """-> (cfg, params with a trial axis of 1, history, snapshots or None)."""
    hist_path, w_path = os.path.join(run_dir, "history.json"), os.path.join(run_dir, "weights.npz")
    for p in (hist_path, w_path):
        if not os.path.isfile(p):
            raise RunError(f"{p} is missing; train a run first (python multiplication_problem.py --save-dir {run_dir})")
    try:
        history, cfg = read_results(hist_path)
        expect = init_params(cfg, [0])
        with np.load(w_path) as z:
            params = {k: z[k][None].astype(cfg.dtype) for k in expect}
        snapshots = None
        s_path = os.path.join(run_dir, "snapshots.npz")
        if os.path.isfile(s_path):
            with np.load(s_path) as z:
                snapshots = (z["iterations"], {k: z[k].astype(cfg.dtype) for k in expect})
    except RunError:
        raise
    except Exception as e:   # truncated zip, bad JSON, missing keys, foreign files ...
        raise RunError(f"{run_dir}/ is not a readable run ({type(e).__name__}: {e})".splitlines()[0])
    for k, v in expect.items():
        if params[k].shape != v.shape or (snapshots and snapshots[1][k].shape[1:] != v.shape[1:]):
            raise RunError(f"{w_path}: array {k} has shape {params[k].shape[1:]}, the config needs {v.shape[1:]}")
        if not np.all(np.isfinite(params[k])):
            raise RunError(f"{w_path}: array {k} holds non-finite values")
    return cfg, params, history, snapshots


def load_sweep(run_dir):
    """-> sweep.json of run_dir as a dict. Raises RunError if missing, torn or of another version."""
    path = os.path.join(run_dir, "sweep.json")
    if not os.path.isfile(path):
        raise RunError(f"{path} is missing")
    try:
        sweep, _ = read_results(path)
        if not all("test_curve" in t for t in sweep["trials"]):
            raise KeyError("test_curve")
    except RunError:
        raise
    except Exception as e:
        raise RunError(f"{path} is not a readable sweep ({type(e).__name__}: {e})".splitlines()[0])
    return sweep


def same_settings(a, b):
    """Two configs train the same run (printing, checkpointing and the fields of
    the other cell do not count)."""
    return effective(a) == effective(b)


def effective(cfg):
    """cfg with what does not change the training at its default: printing,
    checkpointing, the other cell's fields, the stopping rule it does not use,
    the test length of the reference distribution under the paper's."""
    unused = {f.name: f.default for f in dataclasses.fields(Config) if f.metadata.get("cell", cfg.cell) != cfg.cell}
    if cfg.stop == "paper":
        unused["target_test_mse"] = Config.target_test_mse
    if cfg.stop != "paper" or cfg.task == "adding":
        unused["n_seq"] = Config.n_seq
    if cfg.dist == "paper":
        unused["eval_T"] = Config.eval_T
    return dataclasses.replace(cfg, quiet=False, checkpoint_every=0, **unused)


def load_or_train(cfg, run_dir, log=print):
    """The run in run_dir if it was trained with cfg; otherwise train it there.
    Raises RunError for a folder that holds a torn or foreign run."""
    present = [f for f in ("history.json", "weights.npz") if os.path.exists(os.path.join(run_dir, f))]
    if present:
        saved = load_run(run_dir)
        saved_cfg, history = saved[0], saved[2]
        # the budget aside, the same settings; and a run that stopped at its target
        # within both budgets is the same run under either
        same_but_budget = same_settings(saved_cfg, dataclasses.replace(cfg, max_iters=saved_cfg.max_iters))
        within_both = history["reached_target"] and history["iterations"] <= min(cfg.max_iters, saved_cfg.max_iters)
        if same_but_budget and (cfg.max_iters == saved_cfg.max_iters or within_both):
            return saved
        log(f"{run_dir}/ holds a run trained with other settings; training one with these settings first")
    else:
        log(f"{run_dir}/ holds no run; training one first")
    check_save_dir(run_dir, RUN_FILES)
    refuse_to_train_into(run_dir)
    drop_replaced_checkpoints(run_dir)
    run_single(cfg, run_dir, log)
    return load_run(run_dir)


def refuse_to_train_into(run_dir):
    """The picture scripts train the run they draw when it is missing or was
    trained with other settings, but only into an empty folder or the default
    run/ holding a finished run: never over a checkpoint or another result."""
    checkpoints, results = held_runs(run_dir)
    interrupted = checkpoints and not finished_at_budget(run_dir, results)
    if interrupted or (results and os.path.normpath(run_dir) != DEFAULT_SAVE_DIR):
        held = f"an interrupted run ({os.path.basename(checkpoints[0])})" if interrupted else f"a run ({results[0]})"
        raise UsageError(f"--run-dir: {run_dir}/ holds {held} trained with other settings than these flags; "
                         f"give the flags it was trained with (its sweep.json or history.json lists them), or "
                         f"another --run-dir")


def summarise(cfg, results):
    seqs = [r["sequences_seen"] for r in results if r["reached_target"]]
    s = {"n_trials": len(results), "reached_target": sum(r["reached_target"] for r in results)}
    s["success_rate"] = s["reached_target"] / len(results)
    if seqs:
        s.update(mean_sequences=float(np.mean(seqs)), median_sequences=float(np.median(seqs)),
                 min_sequences=int(min(seqs)), max_sequences=int(max(seqs)))
    for key in sorted({k for r in results for k in r["stops"]}):
        rows = [r["stops"][key] for r in results if key in r["stops"]]
        seq = [x["sequences"] for x in rows]
        s["stop_" + key] = {
            "trials": len(rows), "mean_sequences": float(np.mean(seq)),
            "min_sequences": int(min(seq)), "max_sequences": int(max(seq)),
            "mean_test_mse": float(np.mean([x["test_mse"] for x in rows])),
            "max_test_mse": float(max(x["test_mse"] for x in rows)),
            "mean_test_wrong": float(np.mean([x["test_wrong"] for x in rows])),
            "max_test_wrong": int(max(x["test_wrong"] for x in rows))}
    return s


def save_sweep(save_dir, cfg, out, seeds):
    os.makedirs(save_dir, exist_ok=True)
    save_npz(os.path.join(save_dir, "sweep_weights.npz"), {"seeds": np.array(seeds), **out["params"]})
    sweep = {"version": RESULTS_VERSION, "config": config_dict(cfg),
             **summarise(cfg, out["results"]), "elapsed_sec": out["elapsed_sec"], "stretches": out["stretches"],
             "chance_mse": chance_mse(cfg), "env": environment(),
             "interrupted": out["interrupted"], "trials": [{k: v for k, v in r.items() if k != "train_losses"} for r in out["results"]]}
    save_json(os.path.join(save_dir, "sweep.json"), sweep)
    return sweep


def stop_keys(trials):
    """The paper stopping points the trials reached, in the order they happen."""
    return sorted({k for t in trials for k in t["stops"]},
                  key=lambda k: (k != "all_correct", -int(k) if k.isdigit() else 0))


def print_table(cfg, sweep, log=print):
    if cfg.stop == "paper":
        keys = stop_keys(sweep["trials"])
        log(f"{'seed':>5} " + " ".join(f"{'stop ' + k:>34}" for k in keys))
        for t in sweep["trials"]:
            cells = []
            for k in keys:
                s = t["stops"].get(k)
                cells.append(f"{s['sequences']:>12,d} seq {s['test_wrong']:>5d} wrong MSE {s['test_mse']:.4f}" if s else f"{'not reached':>34}")
            log(f"{t['seed']:>5} " + " ".join(cells))
        for k in keys:
            s = sweep["stop_" + k]
            log(f"stop {k}: {s['trials']}/{sweep['n_trials']} trials, sequences mean {s['mean_sequences']:,.0f} "
                f"(min {s['min_sequences']:,d}, max {s['max_sequences']:,d}), test wrong mean {s['mean_test_wrong']:.1f} "
                f"(max {s['max_test_wrong']}), test MSE mean {s['mean_test_mse']:.4f} (max {s['max_test_mse']:.4f})")
    else:
        log(f"{'seed':>5} {'reached':>8} {'sequences':>12} {'final test MSE':>15}")
        for t in sweep["trials"]:
            log(f"{t['seed']:>5} {str(t['reached_target']):>8} {t['sequences_seen']:>12,d} {t['final_test_mse']:>15.4f}")
        extra = f", median sequences {sweep['median_sequences']:,.0f}" if "median_sequences" in sweep else ""
        log(f"reached target: {sweep['reached_target']}/{sweep['n_trials']}{extra}")
    log(f"wall time {sweep['elapsed_sec']:.1f} s")


# ----------------------------------------------------------------------------
# exports for other frameworks: the data batch-first, the lstm's weights as a
# PyTorch state dict (NumPy arrays; nothing here imports torch)

EXPORT_PROGRAM = "multiplication_problem.py data export"

def export_data(cfg, n, seed):
    """n sequences of cfg's test distribution from `seed`'s test generator,
    batch-first: X (n, T, D) zero-padded, lengths (n,), y (n,), and the generator
    settings as JSON. n = cfg.n_test, seed = cfg.test_seed give exactly the
    trainer's held-out test set."""
    X, lengths, y = make_test_set(dataclasses.replace(cfg, n_test=n, test_seed=seed))
    settings = {"program": EXPORT_PROGRAM, "task": cfg.task, "dist": cfg.dist, "T_min": cfg.T_min,
                "T_max": cfg.T_max, "eval_T": cfg.eval_T, "n": n, "seed": seed,
                "is_test_set": n == cfg.n_test and seed == cfg.test_seed,
                "layout": "X[i, t] = (value, marker) of sequence i at step t, zeros after lengths[i]; "
                          "y[i] = target, read at step lengths[i] - 1"}
    return {"X": np.ascontiguousarray(X.transpose(1, 0, 2)), "lengths": lengths, "y": y,
            "generator": np.array(json.dumps(settings))}


def check_export_path(path):
    """Refuse a path we would not write: not .npz, a directory, or an existing
    file that is not one of our data exports."""
    if not path.endswith(".npz"):
        raise UsageError(f"--export-data: {path!r} must end in .npz")
    if os.path.isdir(path):
        raise UsageError(f"--export-data: {path!r} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not can_create_in(parent):
        raise UsageError(f"--export-data: the folder of {path!r} does not exist or is not writable")
    if os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                ours = json.loads(str(z["generator"])).get("program") == EXPORT_PROGRAM
        except Exception:
            ours = False
        if not ours:
            raise UsageError(f"--export-data: {path!r} exists and is not a data export of this program; not overwritten")


def torch_state_dict(params):
    """One lstm's weights (no trial axis) as the state dict of a module with
    lstm = nn.LSTM(D, H) and fc = nn.Linear(H, 1): torch's gate order is
    i, f, g, o (ours i, f, o, g) and its weights are (out, in)."""
    H = params["Wh"].shape[0]
    order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]            # i, f, g, o out of i, f, o, g
    return {"lstm.weight_ih_l0": params["Wx"][:, order].T.copy(), "lstm.weight_hh_l0": params["Wh"][:, order].T.copy(),
            "lstm.bias_ih_l0": params["b"][order].copy(), "lstm.bias_hh_l0": np.zeros(4 * H, params["b"].dtype),
            "fc.weight": params["wy"][None].copy(), "fc.bias": np.reshape(params["by"], (1,)).copy()}


# ----------------------------------------------------------------------------
# command line

class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_seeds(text, flag="--seeds"):
    """'0-29', '0,3,7' or a mix like '0-4,9' -> sorted list of distinct seeds."""
    seeds = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            lo, hi = int(lo), int(hi) if hi else int(lo)
            if lo < 0 or hi < lo or hi >= 2 ** 32:
                raise ValueError
            seeds.extend(range(lo, hi + 1))
    except ValueError:
        raise UsageError(f"{flag}: cannot read {text!r}; give seeds 0..4294967295 as '0-29', '0,3,7' or '0-4,9'")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"{flag}: {text!r} names a seed twice")
    if len(seeds) > 10_000:
        raise UsageError(f"{flag}: at most 10000 seeds, got {len(seeds)}")
    return seeds


def flag_name(field):
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def default_text(field):
    """The default of a Config field as its help shows it, with --paper's where it differs."""
    show = lambda v: ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
    default = getattr(Config(), field.name)
    text = field.metadata.get("default_text", show(default))
    paper = {t: getattr(paper_config(t), field.name) for t in TASKS}
    if field.name not in ("seed", "quiet", "task") and any(v != default for v in paper.values()):
        text += "; " + (show(paper["adding"]) if paper["adding"] == paper["multiplication"] else
                        f"{show(paper['adding'])} adding, {show(paper['multiplication'])} multiplication") + " with --paper"
    return text


def build_parser(description="Train LSTMs on the multiplication (or adding) problem.", save_dir=True):
    """The run options, then one flag per Config field that has help (defaults None:
    config_from_args fills in Config's or --paper's)."""
    p = Parser(description=description)
    a = p.add_argument
    a("--seeds", default=None, help="train several seeds in lockstep, e.g. 0-29 or 0,3,7; writes sweep.json")
    a("--workers", type=int, default=os.cpu_count() or 1,
      help="processes for --seeds (with --scheduler: tasks); results do not depend on it (default: the number of cores)")
    a("--scheduler", default=None, metavar="ADDRESS",
      help="run the --seeds sweep's lockstep groups on the Dask cluster whose scheduler is at ADDRESS (e.g. "
           "tcp://host:8786), in stretches of --checkpoint-every iterations (--eval-every if 0); the checkpoints stay "
           "here (docs/cli.md, 'Beyond one machine')")
    a("--paper", action="store_true", help="the paper's protocol for --task: the 1997 LSTM, its truncated gradient, "
      "on-line gradient descent, the paper's generator and stopping rules")
    a("--T", type=int, default=None, help="minimal sequence length for --paper: lengths in [T, T + T/10] (default 100)")
    for f in dataclasses.fields(Config):
        meta = f.metadata
        if "help" not in meta:
            continue
        default = "" if isinstance(f.default, bool) else f" (default {default_text(f)})"
        help_ = (meta["help"] + default).replace("%", "%%")
        if isinstance(f.default, bool):
            a(flag_name(f), dest=f.name, action="store_const", const=not f.default, default=None, help=help_)
        else:
            kind = str if isinstance(f.default, tuple) else type(f.default)
            a(flag_name(f), dest=f.name, type=kind, choices=meta.get("choices"), default=None, help=help_)
    a("--resume", action="store_true", help="continue the interrupted run in --save-dir, or one whose budget ended "
      "trials that had not stopped, with a larger --max-iters (same command otherwise; --workers and --max-iters may differ)")
    if save_dir:
        a("--overwrite", action="store_true", help="replace the run in --save-dir (without it, a folder holding an "
          f"interrupted run, or a finished one other than {DEFAULT_SAVE_DIR}/, is refused)")
        a("--save-dir", default=DEFAULT_SAVE_DIR, help="where the run is written (default %(default)s)")
        a("--export-data", default=None, metavar="FILE.npz",
          help="write sequences for another framework and exit (no training): X (N, T, 2) batch-first, lengths, y, "
               "and the generator settings; by default exactly the held-out test set of the task and distribution flags")
        a("--n-export", type=int, default=None, help="with --export-data: how many sequences (default: --n-test)")
        a("--export-seed", type=int, default=None, help="with --export-data: their generator's seed (default: --test-seed)")
    return p


MIN_T = 12        # the first marker may sit at step 9 and the last step is a sentinel

def config_from_args(args):
    """Parsed flags -> validated Config (raises UsageError)."""
    if args.T is not None and not args.paper:
        raise UsageError("--T: only with --paper (use --T-min/--T-max otherwise)")
    if args.paper:
        T = 100 if args.T is None else args.T
        if not MIN_T <= T <= 100_000:
            raise UsageError(f"--T: must be in [{MIN_T}, 100000], got {T}")
        cfg = paper_config(args.task or "multiplication", T)
        if args.cell == "lstm":
            raise UsageError("--cell: --paper is the 1997 LSTM's protocol; the forget-gate LSTM on the paper's data "
                             "and stopping rule is --cell lstm --dist paper --stop paper")
    else:
        cfg = Config()
    over = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
            if getattr(args, f.name, None) is not None}
    if "n_seq" in over:
        try:
            over["n_seq"] = tuple(int(n) for n in over["n_seq"].split(","))
        except ValueError:
            raise UsageError(f"--n-seq: cannot read {over['n_seq']!r}; give integers in [1, {WINDOW}] like 140 or 140,13")
    if "forget_bias" in over and over.get("chrono"):
        raise UsageError("--forget-bias: does not apply with --chrono, which sets the forget-gate biases")
    if "chrono_T" in over and not over.get("chrono"):
        raise UsageError("--chrono-T: only with --chrono")
    cfg = dataclasses.replace(cfg, **over)
    refuse_other_cells_fields(cfg, given=over)       # given, even at its default value
    if "n_seq" in over and (cfg.task != "multiplication" or cfg.stop != "paper"):
        raise UsageError("--n-seq: applies to the multiplication problem's paper stop only (--task multiplication "
                         "--stop paper, or --paper)")
    if "lr" not in over and "optimizer" in over and not args.paper:
        cfg = dataclasses.replace(cfg, lr=DEFAULT_LR[cfg.optimizer])
    validate(cfg)
    return cfg


def refuse_other_cells_fields(cfg, given=()):
    """UsageError for a field of the other cell that is off its default or `given`."""
    for f in dataclasses.fields(Config):
        if f.metadata.get("cell", cfg.cell) != cfg.cell and (f.name in given or getattr(cfg, f.name) != f.default):
            other = " or --paper" if f.metadata["cell"] == "lstm97" else ""
            raise UsageError(f"{flag_name(f)}: applies to --cell {f.metadata['cell']}{other} only")


def validate(cfg):
    def need(ok, name, rng):
        if not ok:
            raise UsageError(f"--{name.replace('_', '-')}: must be {rng}, got {getattr(cfg, name)}")
    ints = {"T_min": (MIN_T, 100_000), "eval_T": (MIN_T, 100_000), "n_test": (1, 1_000_000),
            "test_seed": (0, 2 ** 32 - 1), "hidden": (1, 4096), "blocks": (1, 1024),
            "cells_per_block": (1, 1024), "batch_size": (1, 65_536), "max_iters": (1, 10 ** 9),
            "eval_every": (1, 10 ** 9), "snapshot_every": (0, 10 ** 9), "seed": (0, 2 ** 32 - 1),
            "checkpoint_every": (0, 10 ** 9)}
    for name, (lo, hi) in ints.items():
        need(lo <= getattr(cfg, name) <= hi, name, f"an integer in [{lo}, {hi}]")
    need(cfg.T_min <= cfg.T_max <= 100_000, "T_max", f"in [T-min={cfg.T_min}, 100000]")
    finite = lambda v: np.isfinite(v)
    need(finite(cfg.lr) and 0 < cfg.lr <= 100, "lr", "in (0, 100]")
    need(finite(cfg.clip) and 0 <= cfg.clip <= 1e6, "clip", "in [0, 1e6] (0 = off)")
    need(finite(cfg.init_scale) and 0 <= cfg.init_scale <= 10, "init_scale", "in [0, 10] (0 = default)")
    need(finite(cfg.forget_bias) and abs(cfg.forget_bias) <= 100, "forget_bias", "in [-100, 100]")
    need(cfg.chrono_T == 0 or 3 <= cfg.chrono_T <= 10 ** 7, "chrono_T", "0 (= --T-max) or an integer in [3, 10000000]")
    if cfg.chrono_T and not cfg.chrono:
        raise UsageError("--chrono-T: only with --chrono")
    if cfg.chrono and not cfg.forget_gate:
        raise UsageError("--chrono: sets the forget gates' biases; not with --no-forget-gate")
    need(finite(cfg.target_test_mse) and 0 < cfg.target_test_mse <= 1, "target_test_mse", "in (0, 1]")
    if not all(1 <= n <= WINDOW for n in cfg.n_seq) or not cfg.n_seq:
        raise UsageError(f"--n-seq: each value must be in [1, {WINDOW}], got {','.join(map(str, cfg.n_seq))}")
    if cfg.stop == "paper" and cfg.batch_size > WINDOW:
        raise UsageError(f"--batch-size: must be at most {WINDOW} with the paper's stopping rule (its window holds the "
                         f"{WINDOW} most recent sequences), got {cfg.batch_size}")
    refuse_other_cells_fields(cfg)
    if cfg.error_factor != 1.0 and cfg.optimizer != "sgd":
        raise UsageError("--error-factor: a reading of the paper's gradient descent; only with --optimizer sgd")
    if cfg.output_error == "plain" and cfg.output != "logistic":
        raise UsageError("--output-error: plain applies to a logistic output unit only (--output logistic)")
    if cfg.dist == "paper" and cfg.T_min // 2 - 1 < 2:
        raise UsageError(f"--T-min: must be >= {MIN_T} for the paper distribution")


def can_create_in(folder):
    """Try it: permissions say yes to root where the file system says no (/proc, read-only mounts)."""
    import tempfile
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".writable-"))
        return True
    except OSError:
        return False


def check_save_dir(path, files):
    """Refuse a save dir we could not write, before any training starts."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--save-dir: {path!r} exists and is not a directory")
    parent = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not can_create_in(parent):
        raise UsageError(f"--save-dir: {path!r} is not writable")
    for f in files:
        full = os.path.join(path, f)
        if os.path.isdir(full):
            raise UsageError(f"--save-dir: {full!r} is a directory, cannot write the run there")


def held_runs(folder):
    """-> (its checkpoint paths, the result files of a finished run it holds)."""
    return checkpoint_files(folder), [f for f in ("sweep.json", "history.json")
                                      if os.path.isfile(os.path.join(folder, f))]


def refuse_to_replace(save_dir, is_default):
    """A fresh run never replaces an interrupted run, nor a finished one outside
    the default folder: that takes --overwrite. A finished run whose budget ended
    trials that had not stopped keeps their checkpoints (--resume with a larger
    --max-iters continues them) and is a finished run here."""
    checkpoints, finished = held_runs(save_dir)
    if checkpoints and not finished_at_budget(save_dir, finished):
        raise UsageError(f"--save-dir: {save_dir}/ holds an interrupted run ({os.path.basename(checkpoints[0])}); "
                         f"continue it with --resume, or replace it with --overwrite")
    if finished and not is_default:
        go_on = "; or continue its unstopped trials with --resume and a larger --max-iters" if checkpoints else ""
        raise UsageError(f"--save-dir: {save_dir}/ holds a finished run ({finished[0]}); choose another "
                         f"--save-dir, or replace it with --overwrite{go_on}")


def finished_at_budget(save_dir, finished):
    """Whether the checkpoints in save_dir are those a finished run's budget left: its
    results say it was not interrupted, and every checkpoint stands at that budget (a
    later --resume with a larger one, interrupted or still going, is further on)."""
    try:
        with open(os.path.join(save_dir, finished[0])) as f:
            results = json.load(f)
        if results.get("interrupted") is not False:
            return False
        for path in checkpoint_files(save_dir):
            with np.load(path, allow_pickle=False) as z:
                if json.loads(str(z["meta"]))["it"] != results["config"]["max_iters"]:
                    return False
        return True
    except Exception:                 # unreadable results or checkpoints: not a finished run's
        return False


def describe(cfg):
    forget = (f", chrono init T {chrono_horizon(cfg)}" if cfg.chrono else f", forget bias {cfg.forget_bias:g}") \
        if cfg.forget_gate else ", no forget gate"
    net = (f"lstm {cfg.hidden} cells{forget}" if cfg.cell == "lstm" else
           f"lstm97 {cfg.blocks}x{cfg.cells_per_block} cells, {cfg.gradient} gradient")
    stop = (f"stop at test MSE < {cfg.target_test_mse}" if cfg.stop == "test_mse" else
            "stop: paper rule" + ("" if cfg.task == "adding" else f" n_seq {','.join(map(str, cfg.n_seq))}"))
    return (f"{cfg.task} | {cfg.dist} data T in [{cfg.T_min}, {cfg.T_max}] | {net} | "
            f"{cfg.optimizer} lr {cfg.lr} batch {cfg.batch_size} | {stop} | budget {cfg.max_iters:,d} iterations")


def run_single(cfg, save_dir, log, states=None):
    log(describe(cfg) + f" | seed {cfg.seed}" + (" | resumed" if states else ""))
    os.makedirs(save_dir, exist_ok=True)
    out = train_parallel(cfg, [cfg.seed], 1, save_dir, log, states)
    save_single(save_dir, cfg, out)
    drop_checkpoints(out)
    r = out["results"][0]
    log(f"final test MSE {r['final_test_mse']:.5f} ({r['final_test_wrong']} of {cfg.n_test} beyond 0.04) | "
        f"sequences seen {r['sequences_seen']:,d} | wall time {out['elapsed_sec']:.1f} s | "
        f"target reached: {'yes' if r['reached_target'] else 'no'} | saved to {save_dir}/")
    for k, s in r["stops"].items():
        log(f"stop {k}: after {s['sequences']:,d} sequences, test MSE {s['test_mse']:.4f}, {s['test_wrong']} of {s['n_test']} wrong")
    return 0


def run_sweep(cfg, seeds, workers, save_dir, log, states=None, client=None):
    log(describe(cfg) + f" | {len(seeds)} seeds, {min(workers, len(seeds))} workers" + (" | resumed" if states else "")
        + (f" | cluster {client.scheduler.address}" if client else ""))
    os.makedirs(save_dir, exist_ok=True)
    if client is None:
        out = train_parallel(cfg, seeds, workers, save_dir, log, states)
    else:
        out = train_on_cluster(cfg, seeds, workers, save_dir, client, log, states)
    sweep = save_sweep(save_dir, cfg, out, seeds)
    drop_checkpoints(out)
    print_table(cfg, sweep, log)
    log(f"saved to {save_dir}/sweep.json (picture: python visualize_multiplication_problem.py with the same flags "
        f"and --run-dir {save_dir})")
    return 0


def export_main(args, cfg):
    n = cfg.n_test if args.n_export is None else args.n_export
    seed = cfg.test_seed if args.export_seed is None else args.export_seed
    if not 1 <= n <= 1_000_000:
        raise UsageError(f"--n-export: must be an integer in [1, 1000000], got {n}")
    if not 0 <= seed < 2 ** 32:
        raise UsageError(f"--export-seed: must be an integer in [0, 4294967295], got {seed}")
    check_export_path(args.export_data)
    data = export_data(cfg, n, seed)
    save_npz(args.export_data, data)
    if not cfg.quiet:
        test_set = json.loads(str(data["generator"]))["is_test_set"]
        print(f"wrote {args.export_data}: X {data['X'].shape} (batch-first), lengths, y; {cfg.task}, "
              f"{cfg.dist} distribution" + (", the trainer's held-out test set" if test_set else ""))
    return 0


def main(argv=None):
    client = None
    try:
        args = build_parser().parse_args(argv)
        cfg = config_from_args(args)
        if args.scheduler is not None and (args.seeds is None or args.export_data is not None):
            raise UsageError("--scheduler: only for a sweep (--seeds), whose lockstep groups are its tasks")
        if args.export_data is not None:
            return export_main(args, cfg)
        seeds = parse_seeds(args.seeds) if args.seeds is not None else None
        if not 1 <= args.workers <= 256:
            raise UsageError(f"--workers: must be an integer in [1, 256], got {args.workers}")
        check_save_dir(args.save_dir, ["sweep.json", "sweep_weights.npz"] if seeds else RUN_FILES)
        if args.resume and args.overwrite:
            raise UsageError("--overwrite: not with --resume (--resume continues the run in --save-dir, "
                             "--overwrite replaces it)")
        if not args.resume and not args.overwrite:
            refuse_to_replace(args.save_dir, is_default=os.path.normpath(args.save_dir) == DEFAULT_SAVE_DIR)
        if seeds:
            cfg = dataclasses.replace(cfg, snapshot_every=0)    # snapshots are for single runs
        log = (lambda s: None) if cfg.quiet else (lambda s: print(s, flush=True))
        states = None
        if args.scheduler is not None:
            client = connect(args.scheduler)
        if args.resume:
            states = load_checkpoints(cfg, seeds or [cfg.seed], args.workers if seeds else 1, args.save_dir, log)
    except KeyboardInterrupt:
        print(f"{os.path.basename(sys.argv[0] or 'multiplication_problem.py')}: interrupted while regrouping the "
              f"checkpoints; nothing was written", file=sys.stderr)
        return 130
    except UsageError as e:
        print(f"{os.path.basename(sys.argv[0] or 'multiplication_problem.py')}: error: {e}", file=sys.stderr)
        if client is not None:
            client.close()
        return 2
    if not args.resume:
        drop_replaced_checkpoints(args.save_dir)
    catch_interrupts()
    if seeds is None:
        run_single(cfg, args.save_dir, log, states)
    elif args.scheduler is None:
        run_sweep(cfg, seeds, args.workers, args.save_dir, log, states)
    else:
        try:
            run_sweep(cfg, seeds, args.workers, args.save_dir, log, states, client)
        except (ClusterError, OSError, TimeoutError) as e:      # a broken connection included
            print(f"{os.path.basename(sys.argv[0] or 'multiplication_problem.py')}: error: {e}; the checkpoints "
                  f"of the stretches that returned stay in {args.save_dir}/ (--resume continues)", file=sys.stderr)
            return 2
        finally:
            client.close()
    if INTERRUPTS:
        print(f"interrupted by signal {INTERRUPTS[0]}: checkpoint and what was trained so far saved in "
              f"{args.save_dir}/; continue with the same command and --resume", file=sys.stderr)
        return 128 + INTERRUPTS[0]
    return 0


if __name__ == "__main__":
    sys.exit(main())
