"""The nn.LSTM recipe for the adding problem: one trial, trained to the paper's stop.

    python examples/nn_lstm_recipe.py                        # seed 0, T = 100
    python examples/nn_lstm_recipe.py --seed 3 --T 100 --budget 150000
    python examples/nn_lstm_recipe.py --chrono --T 500            # the recipe for the long lags

nn.LSTM(2, 64) -> nn.Linear(64, 1) -> sigmoid on each sequence's last step,
the forget gate's bias at 5, RMSprop lr 1e-3, the gradient clipped at norm
1, one sequence per update: row 9 of the table in docs/pytorch.md, where 10
of 10 trials reach the paper's stop at T = 100. The sequences, the stopping
rule's constants and the test set come from this project's generator (the
paper's adding problem), so a trial here is that row's trial of the same
seed, step for step (tests/test_nn_lstm_recipe.py). Needs torch (pip install
torch), which this project never requires.

--chrono is this project's recipe for the long lags (docs/results.md, "The
forget-gate LSTM at the paper's lags"): nn.LSTM(2, 16) with chrono
initialisation (Tallec & Ollivier 2018: forget-gate biases log(u), u uniform
in [1, T_max - 1], input-gate biases their negatives), batches of 32, Adam
5e-3, the gradient clipped at norm 1.
"""
import collections
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import multiplication_problem as mp  # noqa: E402

try:
    import torch
except ImportError:
    sys.exit("nn_lstm_recipe.py: error: PyTorch is not installed (pip install torch); this project needs it only here")


# recipe
class AddingLSTM(torch.nn.Module):
    """nn.LSTM(2, H) -> nn.Linear(H, 1) on each sequence's last step -> sigmoid."""

    def __init__(self, H=64, forget_bias=5.0):
        super().__init__()
        self.lstm = torch.nn.LSTM(2, H, batch_first=True)
        self.fc = torch.nn.Linear(H, 1)
        with torch.no_grad():                   # torch adds bias_ih and bias_hh: half of the forget
            for b in (self.lstm.bias_ih_l0, self.lstm.bias_hh_l0):   # bias in each, in the forget
                b[H:2 * H] = forget_bias / 2     # quarter [H:2H] (gate order i, f, g, o)

    def forward(self, X, lengths):              # X (n, T, 2): channel 0 the value, 1 the marker
        out, _ = self.lstm(X)
        return torch.sigmoid(self.fc(out[torch.arange(len(lengths)), lengths - 1]))[:, 0]


def batch_first(X, lengths):
    """The generator's X (T, n, 2) time-major NumPy -> torch (n, T, 2) float32, lengths long."""
    return torch.from_numpy(X.transpose(1, 0, 2)).float(), torch.from_numpy(lengths)


def paper_stop(latest):
    """The paper's stop: each of the latest 2000 training sequences within 0.04
    (their mean squared error is then at most 0.0016, so the paper's second
    condition, below 0.01, holds too)."""
    return len(latest) == 2000 and all(e <= 0.04 for e in latest)


def train(seed=0, T=100, budget=150_000):
    """One trial until the paper's stop, each sequence's |error| taken before
    its update. Returns (the network, sequences seen, the latest |errors|)."""
    torch.manual_seed(seed)
    net = AddingLSTM(64, forget_bias=5.0)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3)
    stream = mp.Stream(mp.paper_config("adding", T=T, batch_size=1), mp.rng_for(seed, 1))
    latest = collections.deque(maxlen=2000)     # |error| of the latest 2000 sequences
    for seen in range(1, budget + 1):
        X, lengths, y = stream.next()           # one sequence of T - 1.1 T steps; y = 0.5 + (X1 + X2) / 4
        pred = net(*batch_first(X, lengths))
        loss = ((pred - torch.from_numpy(y).float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        latest.append(abs(pred.item() - y[0]))
        if paper_stop(latest):
            break
    return net, seen, latest
# /recipe


# chrono recipe
def chrono_(lstm, T_max):
    """Chrono initialisation of nn.LSTM's first layer: forget-gate biases log(u), u uniform in
    [1, T_max - 1], input-gate biases -log(u), held in bias_ih (bias_hh is zero there)."""
    H = lstm.hidden_size
    with torch.no_grad():
        b = torch.log(torch.empty(H).uniform_(1, T_max - 1))
        lstm.bias_ih_l0[H:2 * H], lstm.bias_hh_l0[H:2 * H] = b, 0.0     # forget gate (order i, f, g, o)
        lstm.bias_ih_l0[:H], lstm.bias_hh_l0[:H] = -b, 0.0              # input gate


def train_chrono(seed=0, T=500, budget=2_000_000, B=32):
    """One trial until the paper's stop (each sequence's |error| taken before its update)."""
    torch.manual_seed(seed)
    net = AddingLSTM(16)
    chrono_(net.lstm, T + T // 10)                # the longest training sequence
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    stream = mp.Stream(mp.paper_config("adding", T=T, batch_size=B), mp.rng_for(seed, 1))
    latest = collections.deque(maxlen=2000)
    seen = 0
    while seen < budget:
        X, lengths, y = stream.next()              # B sequences of T - 1.1 T steps
        pred = net(*batch_first(X, lengths))
        loss = ((pred - torch.from_numpy(y).float()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        latest.extend(np.abs(pred.detach().double().numpy() - y))
        seen += B
        if paper_stop(latest):
            break
    return net, seen, latest
# /chrono recipe


def test_error(net, T):
    """Test MSE and wrong sequences (|error| beyond 0.04) on the project's held-out test set at T."""
    X, lengths, y = mp.make_test_set(mp.paper_config("adding", T=T))
    with torch.no_grad():
        pred = net(*batch_first(X, lengths)).double().numpy()
    return float(np.mean((pred - y) ** 2)), int((np.abs(pred - y) > mp.CORRECT_ABS_ERR).sum()), len(y)


def main():
    p = mp.Parser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="the trial (default 0)")
    p.add_argument("--T", type=int, default=100, help="minimal sequence length (default 100)")
    p.add_argument("--budget", type=int, default=None, help="sequences at most (default 150000; 2000000 with --chrono)")
    p.add_argument("--chrono", action="store_true", help="the long-lag recipe: 16 cells, chrono initialisation, "
                   "batches of 32, Adam 5e-3, clip 1")
    try:
        a = p.parse_args()
    except mp.UsageError as e:
        print(f"nn_lstm_recipe.py: error: {e}", file=sys.stderr)
        return 2
    for flag, value, low, high in (("--seed", a.seed, 0, 2 ** 31 - 1), ("--T", a.T, mp.MIN_T, 10_000),
                                   ("--budget", 1 if a.budget is None else a.budget, 1, 10_000_000)):
        if not low <= value <= high:
            print(f"nn_lstm_recipe.py: error: {flag}: must be in [{low}, {high}], got {value}", file=sys.stderr)
            return 2
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if a.chrono:
        net, seen, latest = train_chrono(a.seed, a.T, a.budget or 2_000_000)
    else:
        net, seen, latest = train(a.seed, a.T, a.budget or 150_000)
    mse, wrong, n = test_error(net, a.T)
    print(f"seed {a.seed}, T = {a.T}: {'stopped after' if paper_stop(latest) else 'not stopped within'} {seen:,d} sequences "
          f"(the paper's stop); test MSE {mse:.6f}, {wrong} of {n} test sequences wrong; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
