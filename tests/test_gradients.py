"""Backward passes against centred finite differences (float64), and the
equivalences between code paths: step-by-step vs whole sequence, a batch vs
its sequences one at a time, several trials vs separate runs."""
import dataclasses

import numpy as np
import pytest

import multiplication_problem as mp


def rel_err(a, b):
    return np.abs(a - b).max() / max(1e-8, np.abs(a).max() + np.abs(b).max())


def random_problem(cfg, seeds=(0, 1), B=3, T=(12, 17), seed=5):
    """Perturbed weights (so no unit sits in a flat regime), a padded batch of
    sequences of different lengths, a random upstream projection R."""
    rng = np.random.default_rng(seed)
    params = {k: v + rng.normal(0, 0.5, v.shape) for k, v in mp.init_params(cfg, list(seeds)).items()}
    data = dataclasses.replace(cfg, dist="paper", T_min=T[0], T_max=T[1], batch_size=B)
    X, L, _ = mp.stack_trials([mp.make_sequences(rng, B, data) for _ in seeds], np.float64)
    assert len(np.unique(L)) > 1, "the check must cover variable lengths"
    return params, X, L, rng.normal(size=(len(seeds), B))


def numeric_grads(f, params, h=1e-5):
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            old = v[i]
            v[i] = old + h
            fp = f()
            v[i] = old - h
            fm = f()
            v[i] = old
            g[i] = (fp - fm) / (2 * h)
        out[k] = g
    return out


@pytest.mark.parametrize("forget_gate,output", [(True, "logistic"), (False, "logistic"), (True, "linear")])
def test_lstm_gradient(forget_gate, output):
    cfg = mp.Config(hidden=3)
    params, X, L, R = random_problem(cfg)
    y, cache = mp.lstm_forward(params, X, L, forget_gate, output)
    grads = mp.lstm_backward(params, cache, R)
    num = numeric_grads(lambda: (mp.lstm_forward(params, X, L, forget_gate, output)[0] * R).sum(), params)
    for k in params:
        assert rel_err(grads[k], num[k]) < 1e-7, k


# The readings of the paper's text (and the linear-output ablation) as forward-pass
# options, and the output the finite differences must differentiate: with the
# plain output error the backward pass is the gradient of R * net_k, not of R * y.
READINGS = {
    "body": ({}, {}),
    "linear-output": ({"output": "linear"}, {}),
    "caption-squash": ({"squash": mp.SQUASH["caption"]}, {}),
    "output-reads-previous": ({"delay": 1}, {}),
    "plain-output-error": ({"output_error": "plain"}, {"output": "linear"}),
}


@pytest.mark.parametrize("reading", READINGS)
def test_lstm97_full_gradient(reading):
    opts, probe = READINGS[reading]
    cfg = mp.Config(cell="lstm97")
    params, X, L, R = random_problem(cfg)
    _, cache = mp.lstm97_forward(params, X, L, **opts)
    grads = mp.lstm97_backward(params, cache, R, truncated=False)
    num = numeric_grads(lambda: (mp.lstm97_forward(params, X, L, **{**opts, **probe})[0] * R).sum(), params)
    for k in params:
        assert rel_err(grads[k], num[k]) < 1e-7, k


@pytest.mark.parametrize("reading", READINGS)
def test_lstm97_truncated_gradient_is_the_gradient_with_fixed_recurrent_inputs(reading):
    opts, probe = READINGS[reading]
    cfg = mp.Config(cell="lstm97", blocks=2, cells_per_block=3)
    params, X, L, R = random_problem(cfg)
    _, cache = mp.lstm97_forward(params, X, L, **opts)
    y_prev = cache.hidden()[:-1]                  # the unperturbed previous-step outputs
    grads = mp.lstm97_backward(params, cache, R, truncated=True)
    num = numeric_grads(lambda: (mp.lstm97_forward(params, X, L, y_prev=y_prev, **{**opts, **probe})[0] * R).sum(), params)
    for k in params:
        assert rel_err(grads[k], num[k]) < 1e-7, k
    full = mp.lstm97_backward(params, cache, R, truncated=False)
    assert rel_err(grads["Wr"], full["Wr"]) > 1e-3, "truncation must change the gradient"


def test_readings_change_the_network():
    """Each reading changes the output (so no flag is silently ignored), and the
    caption's ranges are the body's swapped: g in [-1, 1], h in [-2, 2]."""
    cfg = mp.Config(cell="lstm97")
    params, X, L, _ = random_problem(cfg)
    params = {k: 3 * v for k, v in params.items()}
    base = mp.lstm97_forward(params, X, L)[0]
    for reading, (opts, _) in READINGS.items():
        if reading != "body" and "output_error" not in opts:
            assert np.abs(mp.lstm97_forward(params, X, L, **opts)[0] - base).max() > 1e-3, reading
    _, cache = mp.lstm97_forward(params, X, L, squash=mp.SQUASH["caption"])
    C = 4
    y_c = cache.R[1:, :C]                            # y_out h(s) with h in [-2, 2]
    assert 1.0 < np.abs(y_c).max() <= 2.0
    assert np.array_equal(mp.lstm97_forward(params, X, L, output_error="plain")[0], base), "plain error: same forward"


def test_output_reading_previous_step_uses_the_cells_one_step_earlier():
    cfg = mp.Config(cell="lstm97")
    params, X, L, _ = random_problem(cfg)
    _, now = mp.lstm97_forward(params, X, L)
    _, prev = mp.lstm97_forward(params, X, L, delay=1)
    K, B = L.shape
    for k in range(K):
        for b in range(B):
            np.testing.assert_array_equal(prev.feats[k, b], now.R[L[k, b] - 1, :4, k, b])   # y_c(L - 2)
            np.testing.assert_array_equal(now.feats[k, b], now.R[L[k, b], :4, k, b])       # y_c(L - 1)


def test_output_gate_biases_and_error_factor():
    cfg = mp.paper_config("multiplication", out_gate_biases=True)
    b = mp.init_params(cfg, [3])["b"][0]
    assert np.array_equal(b[6:8], [-1.0, -2.0]) and np.abs(b[:6]).max() <= 0.1
    err = np.array([[0.3, -0.2]])
    one, two = mp.paper_config("adding"), mp.paper_config("adding", error_factor=2.0)
    np.testing.assert_array_equal(mp.loss_grad(two, err), 2 * mp.loss_grad(one, err))


def test_lstm_step_by_step_equals_whole_sequence():
    cfg = mp.Config(hidden=4)
    params, X, L, _ = random_problem(cfg)
    L[:] = X.shape[0]
    y, cache = mp.lstm_forward(params, X, L)
    K, B = L.shape
    h = c = np.zeros((K, B, 4))
    for t in range(X.shape[0]):
        h, c = mp.lstm_step(params, X[t], h, c)
        np.testing.assert_allclose(h, cache.Hs[t + 1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(mp.readout(params, h)[0], y, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "lstm97"])
def test_batch_equals_sequences_one_at_a_time(cell):
    cfg = mp.Config(cell=cell, hidden=4)
    params, X, L, R = random_problem(cfg, B=4)
    y, cache = mp.forward(cfg, params, X, L)
    grads = mp.backward(cfg, params, cache, R)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    for b in range(4):
        Lb = L[:, b:b + 1]
        Xb = X[: Lb.max(), :, b:b + 1]
        yb, cb = mp.forward(cfg, params, Xb, Lb)
        np.testing.assert_allclose(yb[:, 0], y[:, b], rtol=0, atol=1e-14)
        for k, g in mp.backward(cfg, params, cb, R[:, b:b + 1]).items():
            total[k] += g
    for k in grads:
        np.testing.assert_allclose(total[k], grads[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("shape", [(2, 2), (3, 3)])
def test_1997_trial_gives_the_same_bits_alone_or_in_a_group(shape, B):
    """Each trial's step is its own matmul (NumPy's loop for one sequence, BLAS's gemm on
    a copy for more), so the trial's place in the lockstep group changes no bit."""
    cfg = mp.Config(cell="lstm97", output="linear", blocks=shape[0], cells_per_block=shape[1])
    params, X, L, R = random_problem(cfg, seeds=(0, 1, 2, 3), B=5)
    L, R = L[:1, :B], R[:, :B]                                  # every trial reads trial 0's sequences
    X = X[:L.max(), :1, :B]
    y, cache = mp.forward(cfg, params, X, L.repeat(4, 0))
    grads = mp.backward(cfg, params, cache, R)
    for k in range(4):
        one = {name: v[k:k + 1] for name, v in params.items()}
        yk, ck = mp.forward(cfg, one, X, L)
        assert np.array_equal(yk[0], y[k]) and np.array_equal(ck.S[:, :, 0], cache.S[:, :, k])
        for name, g in mp.backward(cfg, one, ck, R[k:k + 1]).items():
            assert np.array_equal(g[0], grads[name][k]), name


@pytest.mark.parametrize("T", [5, 64, 100, 130])
def test_outer_sum_is_the_plain_sum_and_padding_changes_no_bit(T):
    """The weight gradients' sum over steps and sequences, taken in blocks of 64
    steps (laid out for one matmul each), equals the plain einsum to rounding;
    and steps of zeros appended to b (a trial padded to a longer group's length)
    leave every bit as it was, at any length, with a broadcast (K = 1) or a
    per-trial a."""
    rng = np.random.default_rng(T)
    for K_a in (1, 3):
        a, b = rng.normal(size=(T, K_a, 4, 5)), rng.normal(size=(T, 3, 4, 6))
        got = mp.outer_sum(a, b, block=64)
        assert got.shape == (3, 5, 6)
        np.testing.assert_allclose(got, np.einsum("tkbp,tkbq->kpq", np.broadcast_to(a, (T, 3, 4, 5)), b),
                                   rtol=1e-12, atol=1e-12)
        for extra in (1, 64 - T % 64, 70):
            a_long = np.concatenate([a, rng.normal(size=(extra,) + a.shape[1:])])
            b_long = np.concatenate([b, np.zeros((extra,) + b.shape[1:])])
            assert np.array_equal(mp.outer_sum(a_long, b_long, block=64), got), extra


@pytest.mark.parametrize("cfg", [
    mp.Config(task="adding", output="linear"),
    mp.paper_config("adding", T=20, output="linear"),
    mp.paper_config("adding", T=20, output="linear", blocks=3, cells_per_block=3),   # BLAS's gemm at B >= 2
], ids=["lstm", "lstm97", "lstm97-3x3"])
def test_test_set_predictions_do_not_depend_on_the_chunk_size(cfg):
    """predict runs the shared test set through every trial in chunks of sequences; the
    chunk size is a speed setting only: the same bits as one chunk of all of them, from
    two sequences up (one alone takes another NumPy path). A linear output, so that a
    difference in the last bit of a cell's output shows."""
    params = mp.init_params(cfg, [0, 1, 2])
    X, L, _ = mp.make_sequences(mp.rng_for(9, 2), 150, cfg)
    whole = mp.predict(cfg, params, X, L, chunk=150)
    for chunk in (2, 7, 64):
        assert np.array_equal(mp.predict(cfg, params, X, L, chunk=chunk), whole), chunk


def test_1997_cell_follows_the_paper_equations():
    """The fast forward pass against lstm97_step, the paper's equations written
    out directly: net = W [x, y(t-1), 1], g = a_g (2 sig(net) - 1), gates sig(net),
    s(t) = s(t-1) + y_in g, y_c = y_out a_h (2 sig(s) - 1); under both squash readings."""
    for squash in ("body", "caption"):
        cfg = mp.Config(cell="lstm97", squash=squash)
        params, X, L, _ = random_problem(cfg)
        params = {k: 3 * v for k, v in params.items()}          # drive units into saturation too
        assert mp.count_weights(mp.init_params(cfg, [0])) == 93
        y, cache = mp.lstm97_forward(params, X, L, mp.SQUASH[squash])
        unit_last = lambda a: np.moveaxis(a, 1, -1)              # (T, units, K, B) -> (T, K, B, units)
        Z, S, HS, Y = unit_last(cache.Z), unit_last(cache.S), unit_last(cache.TH), unit_last(cache.hidden())
        C = 4
        s = np.zeros(Y.shape[1:3] + (C,))
        hidden = np.zeros(Y.shape[1:])
        for t in range(X.shape[0]):
            hidden, s = mp.lstm97_step(params, X[t], hidden, s, mp.SQUASH[squash])
            np.testing.assert_allclose(2 * S[t + 1], s, atol=1e-12)
            np.testing.assert_allclose(Y[t + 1], hidden, atol=1e-12)
            last = t == L - 1                                      # (K, B) sequences that end here
            net_k = (hidden[..., :C] * params["wy"][:, None, :]).sum(-1) + params["by"][:, None]
            np.testing.assert_allclose(y[last], mp.logistic(net_k)[last], atol=1e-12)
        assert np.abs(hidden).max() > 0.5
    assert np.abs(Z[..., :C]).max() > 0.95 and np.abs(Z[..., :C]).max() <= 1
    # the forward pass computes each gate once per cell of its block: the copies must be the same bits
    for first, copy in ((4, 5), (6, 7), (8, 9), (10, 11)):
        np.testing.assert_array_equal(cache.Z[:, first], cache.Z[:, copy])
        np.testing.assert_array_equal(cache.R[:, first], cache.R[:, copy])
    assert np.abs(HS).max() > 0.9 and np.abs(HS).max() <= 1


def test_1997_initialisation():
    cfg = mp.paper_config("adding")
    p = mp.init_params(cfg, [3])
    assert np.array_equal(p["b"][0, 4:6], [-3.0, -6.0])           # input-gate biases, adding only
    rest = np.concatenate([p["Wx"].ravel(), p["Wr"].ravel(), p["b"][0, :4], p["b"][0, 6:], p["wy"].ravel()])
    assert np.abs(rest).max() <= 0.1 and np.abs(rest).max() > 0.09
    q = mp.init_params(mp.paper_config("multiplication"), [3])
    assert np.abs(q["b"]).max() <= 0.1


@pytest.mark.parametrize("cfg,stops", [
    (mp.Config(max_iters=80, eval_every=10, quiet=True, snapshot_every=0, target_test_mse=0.047,
               batch_size=8, n_test=128), [20, 10, 10]),
    # both paper stopping points, reached at different times: the group shrinks from 3 to 2 to 1
    (mp.paper_config("multiplication", T=20, max_iters=3000, eval_every=500, quiet=True, n_seq=(1900, 1850),
                     n_test=128), [1737, 1697, 1562]),
], ids=["lstm-adam-reference", "lstm97-sgd-paper"])
def test_trials_in_lockstep_equal_separate_runs(cfg, stops):
    together = mp.train(cfg, [4, 0, 7])
    assert [r["iterations"] for r in together["results"]] == stops
    assert all(r["reached_target"] for r in together["results"])
    for k, seed in enumerate([4, 0, 7]):
        alone = mp.train(cfg, [seed])
        for name, v in alone["params"].items():
            assert np.array_equal(v[0], together["params"][name][k]), (seed, name)
        assert alone["results"][0]["test_curve"] == together["results"][k]["test_curve"]
        assert alone["results"][0]["stops"] == together["results"][k]["stops"]


def test_a_batch_is_never_padded_past_its_longest_sequence(monkeypatch):
    """The weight gradient's blocks of steps: a batch (B > 1) sums step by step,
    never over padding past its longest sequence (blocks of 64 steps once padded
    the reference task's 20-30 steps to 64 and doubled its backward pass); one
    sequence per update keeps its 64-step blocks, where the padding is a
    rank-one product's price for one matmul per block."""
    calls = []
    real = mp.time_blocks
    monkeypatch.setattr(mp, "time_blocks", lambda x, block, K: calls.append((x.shape[0], block)) or real(x, block, K))
    for B in (32, 1):
        cfg = mp.Config(hidden=4, batch_size=B, snapshot_every=0)
        st = mp.new_state(cfg, [0, 1])
        steps = [mp.train_step(cfg, st, it, print)[1] for it in range(1, 4)]
        padded = [(T, block) for T, block in calls if -(-T // block) * block != T]
        if B > 1:
            assert not padded, padded
        else:
            assert {T for T, _ in padded} == set(steps) and {b for _, b in padded} == {64}
        calls.clear()
