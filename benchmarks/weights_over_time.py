"""How the 1997 network's key weights move during the paper's protocol, at
several T: the mean |w_y| (cells -> output unit; starts uniform in [-0.1, 0.1],
mean 0.05), the largest |weight| from the marker input into an input gate,
the mean |cell state| at the step the output reads (on 256 test sequences),
medians over the trials, every --every sequences; and the test MSE.

    python benchmarks/weights_over_time.py --T 100,500 --seeds 0-2 --sequences 60000 --output-error plain --squash caption

Two controls, neither the paper's setting: --noiseless sets every value that
is not marked to 0, so the cells have no noise to integrate between the
markers; --in-gate-biases A,B starts the input gates' biases at A and B
instead of the paper's -3 and -6 (less drift of the cell states).
"""
import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "analysis"))
from network_state import end_states, key_weights  # noqa: E402


def silence_unmarked(X):
    """The noiseless control: every value at an unmarked step set to 0, in place
    (the adding target, a sum of the marked values, is unchanged)."""
    X[..., 0] *= X[..., 1] == 1.0


class NoiselessStream(mp.Stream):
    """A trial's training data under the noiseless control."""

    def draw(self):
        super().draw()
        silence_unmarked(self.buf[0])


def course(T, seeds, sequences, every, in_gate_biases=None, noiseless=False, **overrides):
    """Train in stretches of `every` sequences (one state carried through, as a
    resumed run) and read the weights after each -> rows, seconds."""
    cfg = mp.paper_config("adding", T, eval_every=every, quiet=True, checkpoint_every=0, **overrides)
    st = mp.new_state(cfg, seeds)
    (C, N), K = mp.lstm97_shape(st.params), len(seeds)
    if in_gate_biases is not None:
        st.params["b"][:, C:C + N] = in_gate_biases
    test = mp.make_test_set(cfg)
    if noiseless:
        st.streams = [NoiselessStream(cfg, mp.rng_for(s, 1)) for s in seeds]
        silence_unmarked(test[0])
    X, L = test[0][:, None, :256], np.repeat(test[1][None, :256], K, 0)
    t0 = time.perf_counter()
    rows = []
    for it in range(0, sequences + 1, every):
        if it:
            mp.train(dataclasses.replace(cfg, max_iters=it), seeds, log=lambda s: None, state=st)
        p = st.params
        # train's own tests are on the paper's (noisy) test set
        mse = mp.evaluate(cfg, p, test)[0] if noiseless or not st.curve else st.curve[-1][1]
        w_y, marker = key_weights(p)
        s_end = end_states(mp.forward(cfg, p, X, L)[1])
        rows.append((it, float(np.median(w_y)), float(np.median(marker)),
                     float(np.median(s_end.mean((1, 2)))), float(np.median(mse))))
    return rows, time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", default="100,500")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--sequences", type=int, default=60_000)
    p.add_argument("--every", type=int, default=5_000)
    p.add_argument("--output-error", default="fprime", choices=("fprime", "plain"))
    p.add_argument("--squash", default="body", choices=tuple(mp.SQUASH))
    p.add_argument("--out-gate-biases", action="store_true", help="the trainer's reading: output-gate biases -1, -2")
    p.add_argument("--noiseless", action="store_true", help="control: unmarked values are 0 (training and test)")
    p.add_argument("--in-gate-biases", help="control: the input gates' initial biases, e.g. -6,-9")
    a = p.parse_args(argv)
    seeds = mp.parse_seeds(a.seeds)
    Ts = [int(t) for t in a.T.split(",")]
    biases = [float(b) for b in a.in_gate_biases.split(",")] if a.in_gate_biases else None
    results = {T: course(T, seeds, a.sequences, a.every, biases, a.noiseless, output_error=a.output_error,
                         squash=a.squash, out_gate_biases=a.out_gate_biases) for T in Ts}
    control = (", noiseless control" if a.noiseless else "") + (f", input-gate biases {biases}" if biases else "")
    reading = ", output-gate biases -1, -2" if a.out_gate_biases else ""
    print(f"adding, paper protocol{control}{reading}, output error {a.output_error}, "
          f"squash {a.squash}, seeds {a.seeds}; "
          "medians over the trials: |w_y| / max |marker -> input gate| / |s| at the end / test MSE")
    print(f"{'sequences':>10} " + " ".join(f"{'T = ' + str(T):>37}" for T in Ts))
    for i in range(len(results[Ts[0]][0])):
        cells = []
        for T in Ts:
            it, wy, mk, s_end, mse = results[T][0][i]
            cells.append(f"{wy:>8.4f} / {mk:>6.3f} / {s_end:>6.3f} / {mse:>7.4f}")
        print(f"{results[Ts[0]][0][i][0]:>10,d} " + " ".join(f"{c:>37}" for c in cells))
    print("wall time: " + ", ".join(f"T = {T}: {results[T][1]:.0f} s" for T in Ts))


if __name__ == "__main__":
    main()
