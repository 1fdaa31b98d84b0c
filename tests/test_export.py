"""Exports for PyTorch users: the data batch-first, the lstm weights as a state
dict. Checked without torch against torch's documented LSTM equations (a NumPy
transcription below), and with torch where it is installed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import multiplication_problem as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "multiplication_problem.py")


def torch_lstm_equations(sd, X, lengths, output="logistic"):
    """torch.nn.LSTM as its documentation writes it, one layer, batch-first X (n, T, D):
    i = s(W_ii x + b_ii + W_hi h + b_hi), f = s(...), g = tanh(...), o = s(...),
    c = f c + i g, h = o tanh(c); weight_ih_l0 stacks W_ii, W_if, W_ig, W_io.
    Then fc = nn.Linear(H, 1) on h at each sequence's last step, and a sigmoid."""
    sig = lambda v: 1 / (1 + np.exp(-v))
    W_ii, W_if, W_ig, W_io = np.split(sd["lstm.weight_ih_l0"], 4)
    W_hi, W_hf, W_hg, W_ho = np.split(sd["lstm.weight_hh_l0"], 4)
    b_ii, b_if, b_ig, b_io = np.split(sd["lstm.bias_ih_l0"], 4)
    b_hi, b_hf, b_hg, b_ho = np.split(sd["lstm.bias_hh_l0"], 4)
    n, T, _ = X.shape
    h = c = np.zeros((n, W_hi.shape[1]))
    h_last = np.zeros_like(h)
    for t in range(T):
        x = X[:, t]
        i = sig(x @ W_ii.T + b_ii + h @ W_hi.T + b_hi)
        f = sig(x @ W_if.T + b_if + h @ W_hf.T + b_hf)
        g = np.tanh(x @ W_ig.T + b_ig + h @ W_hg.T + b_hg)
        o = sig(x @ W_io.T + b_io + h @ W_ho.T + b_ho)
        c = f * c + i * g
        h = o * np.tanh(c)
        h_last[lengths - 1 == t] = h[lengths - 1 == t]
    net = h_last @ sd["fc.weight"].T + sd["fc.bias"]
    return (sig(net) if output == "logistic" else net)[:, 0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    r = subprocess.run([sys.executable, MAIN, "--max-iters", "60", "--eval-every", "30", "--batch-size", "8",
                        "--n-test", "96", "--hidden", "5", "--quiet", "--save-dir", str(d / "run")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, MAIN, "--n-test", "96", "--quiet", "--export-data", str(d / "test.npz")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return d


def test_exported_weights_run_in_torchs_equations_like_our_lstm(trained):
    cfg, params, history, _ = mp.load_run(str(trained / "run"))
    with np.load(trained / "run" / "weights_torch.npz") as z:
        sd = {k: z[k] for k in z.files}
    with np.load(trained / "test.npz") as z:
        X, lengths, y = z["X"], z["lengths"], z["y"]
    theirs = torch_lstm_equations(sd, X, lengths)
    ours = mp.predict(cfg, params, X.transpose(1, 0, 2), lengths)[0]
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-12)
    assert abs(np.mean((theirs - y) ** 2) - history["final_test_mse"]) < 1e-12
    assert sd["lstm.weight_ih_l0"].shape == (20, 2) and sd["fc.weight"].shape == (1, 5)


def test_data_export_is_the_test_set_batch_first(trained):
    cfg = mp.Config(n_test=96)
    X, L, y = mp.make_test_set(cfg)
    with np.load(trained / "test.npz") as z:
        assert np.array_equal(z["X"], X.transpose(1, 0, 2)) and np.array_equal(z["lengths"], L)
        assert np.array_equal(z["y"], y)
        g = json.loads(str(z["generator"]))
    assert g["is_test_set"] and g["task"] == "multiplication" and g["n"] == 96 and g["seed"] == cfg.test_seed


def test_paper_data_export_other_seed_round_trips(tmp_path):
    r = subprocess.run([sys.executable, MAIN, "--paper", "--task", "adding", "--n-export", "50", "--export-seed", "9",
                        "--export-data", "d.npz"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    X, L, y = mp.make_sequences(mp.rng_for(9, 2), 50, mp.paper_config("adding"))
    with np.load(tmp_path / "d.npz") as z:
        assert np.array_equal(z["X"], X.transpose(1, 0, 2)) and np.array_equal(z["y"], y)
        assert 100 <= z["lengths"].min() and z["lengths"].max() <= 110
        assert (z["X"][np.arange(50), z["lengths"] - 1, 1] == -1).all(), "sentinel at each sequence's own last step"


@pytest.mark.parametrize("path,setup", [
    ("out.txt", None), ("folder.npz", "dir"), ("missing/dir/x.npz", None), ("foreign.npz", "foreign"),
])
def test_bad_export_paths_are_refused(tmp_path, path, setup):
    if setup == "dir":
        (tmp_path / path).mkdir()
    if setup == "foreign":
        (tmp_path / path).write_bytes(b"not ours")
    before = sorted(os.listdir(tmp_path))
    r = subprocess.run([sys.executable, MAIN, "--export-data", path], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--export-data" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and sorted(os.listdir(tmp_path)) == before
    if setup == "foreign":
        assert (tmp_path / path).read_bytes() == b"not ours"


def test_a_1997_run_writes_no_torch_weights(tmp_path):
    r = subprocess.run([sys.executable, MAIN, "--cell", "lstm97", "--max-iters", "5", "--batch-size", "4",
                        "--n-test", "16", "--quiet", "--save-dir", "r"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(tmp_path / "r" / "weights.npz") and not os.path.exists(tmp_path / "r" / "weights_torch.npz")


def test_torch_loads_the_state_dict_and_agrees(trained):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(MAIN), "analysis"))
    from torch_net import Net, forget_bias
    cfg, params, _, _ = mp.load_run(str(trained / "run"))
    net = Net(cfg.hidden).double()
    with np.load(trained / "run" / "weights_torch.npz") as z:
        net.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    with np.load(trained / "test.npz") as z:
        X, lengths = z["X"], z["lengths"]
    with torch.no_grad():
        y = net(torch.from_numpy(X), torch.from_numpy(lengths)).numpy()
    ours = mp.predict(cfg, params, X.transpose(1, 0, 2), lengths)[0]
    np.testing.assert_allclose(y, ours, rtol=0, atol=1e-12)
    np.testing.assert_allclose(forget_bias(net).numpy(), params["b"][0, cfg.hidden:2 * cfg.hidden], rtol=0, atol=1e-15)


def test_torch_net_sets_the_forget_bias_once_across_its_two_bias_vectors():
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(MAIN), "analysis"))
    from torch_net import Net, forget_bias
    torch.manual_seed(0)
    net = Net(6, forget_bias=5.0, init_half_width=0.1)
    assert torch.equal(forget_bias(net), torch.full((6,), 5.0))
    others = [p for name, p in net.named_parameters() if not name.startswith("lstm.bias")]
    assert all(p.abs().max() <= 0.1 for p in others) and max(p.abs().max() for p in others) > 0.09
    X, L = torch.rand(3, 7, 2), torch.tensor([7, 4, 1])
    y = net(X, L)
    for i, n in enumerate(L.tolist()):                    # each sequence read at its own last step
        assert torch.allclose(y[i], net(X[i:i + 1, :n], torch.tensor([n]))[0], atol=1e-6)


def test_the_check_refuses_sequences_of_another_length(trained, tmp_path):
    """examples/pytorch_check.py compares a run with data of its own test distribution
    only: an export of other lengths is one line naming their flags, exit 2; data of
    the right distribution but not the run's test set is compared, not called its test set."""
    pytest.importorskip("torch")
    paper = ["--task", "adding", "--dist", "paper", "--T-min", "12", "--T-max", "14", "--n-test", "32"]
    r = subprocess.run([sys.executable, MAIN, *paper, "--max-iters", "20", "--eval-every", "10", "--hidden", "3",
                        "--quiet", "--save-dir", str(tmp_path / "paper_run")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    exports = {"reference_eval_T_40": ["--n-test", "96", "--eval-T", "40"],
               "paper_T_16": paper[:4] + ["--T-min", "16", "--T-max", "18", "--n-test", "32"],
               "paper_16_of_the_test_set": paper[:-1] + ["16"]}
    for name, args in exports.items():
        r = subprocess.run([sys.executable, MAIN, *args, "--quiet", "--export-data", str(tmp_path / f"{name}.npz")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    check = lambda run, data: subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "pytorch_check.py"), "--run", str(run), "--data", str(data)],
        capture_output=True, text=True, timeout=120)
    for run, data, says in ((trained / "run", "reference_eval_T_40", "--eval-T 40 (the run: 30)"),
                            (tmp_path / "paper_run", "paper_T_16", "--T-min 16 (the run: 12), --T-max 18 (the run: 14)")):
        r = check(run, tmp_path / f"{data}.npz")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr
    r = check(trained / "run", trained / "test.npz")
    assert r.returncode == 0 and "(the run's held-out test set)" in r.stdout, r.stderr
    r = check(tmp_path / "paper_run", tmp_path / "paper_16_of_the_test_set.npz")
    assert r.returncode == 0 and "16 sequences" in r.stdout and "held-out" not in r.stdout, r.stdout + r.stderr


def test_chrono_biases_follow_their_distribution_and_leave_every_other_weight():
    """--chrono: forget-gate biases log(u), u uniform in [1, T_max - 1] (a
    Kolmogorov-Smirnov distance within the 99.9% band of 1024 draws), input-gate
    biases exactly their negatives, every other weight as drawn without chrono."""
    cfg = mp.Config(hidden=1024, chrono=True, T_min=500, T_max=550)
    plain = mp.init_params(mp.Config(hidden=1024, T_min=500, T_max=550), [7])
    p = mp.init_params(cfg, [7])
    H, b = cfg.hidden, p["b"][0]
    u = np.sort(np.exp(b[H:2 * H]))
    assert 1 <= u[0] and u[-1] <= 549
    ks = np.abs(np.arange(1, H + 1) / H - (u - 1) / 548).max()
    assert ks < 1.95 / np.sqrt(H), ks
    assert np.array_equal(b[:H], -b[H:2 * H])
    assert np.array_equal(b[2 * H:], plain["b"][0, 2 * H:])
    assert all(np.array_equal(p[k], plain[k]) for k in ("Wx", "Wh", "wy", "by"))
    short = mp.init_params(mp.Config(hidden=1024, chrono=True, chrono_T=10), [7])["b"][0, H:2 * H]
    assert np.exp(short).max() <= 9 and np.exp(short).min() >= 1


def test_a_chrono_network_in_torch_is_our_network(tmp_path):
    """The export of a --chrono run: torch's bias_ih_l0 carries every bias
    (bias_hh_l0 is zero), in torch's gate order, and the network computes ours."""
    d = tmp_path / "run"
    r = subprocess.run([sys.executable, MAIN, "--max-iters", "2", "--eval-every", "1", "--n-test", "32", "--hidden",
                        "6", "--chrono", "--task", "adding", "--quiet", "--save-dir", str(d)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    cfg, params, _, _ = mp.load_run(str(d))
    assert cfg.chrono and mp.chrono_horizon(cfg) == cfg.T_max
    with np.load(d / "weights_torch.npz") as z:
        sd = {k: z[k] for k in z.files}
    H = cfg.hidden
    assert not sd["lstm.bias_hh_l0"].any()
    np.testing.assert_array_equal(sd["lstm.bias_ih_l0"][H:2 * H], params["b"][0, H:2 * H])
    X, L, y = mp.make_test_set(cfg)
    ours = mp.predict(cfg, params, X, L)[0]
    np.testing.assert_allclose(torch_lstm_equations(sd, X.transpose(1, 0, 2), L), ours, rtol=0, atol=1e-12)
    torch = pytest.importorskip("torch")
    lstm, fc = torch.nn.LSTM(2, H, batch_first=True).double(), torch.nn.Linear(H, 1).double()
    lstm.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in sd.items() if k.startswith("lstm.")})
    fc.load_state_dict({k[3:]: torch.from_numpy(v) for k, v in sd.items() if k.startswith("fc.")})
    with torch.no_grad():
        out, _ = lstm(torch.from_numpy(X.transpose(1, 0, 2).copy()))
        theirs = torch.sigmoid(fc(out[torch.arange(len(L)), torch.from_numpy(L) - 1]))[:, 0].numpy()
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-12)
