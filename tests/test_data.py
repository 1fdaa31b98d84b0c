"""The marker-sequence generator against its specification (docs/paper.md)."""
import dataclasses
import warnings

import numpy as np
import pytest

import multiplication_problem as mp


def chi2_critical(df, z=3.719):
    """Upper chi-square quantile (Wilson-Hilferty); z = 3.719 is p = 1e-4."""
    return df * (1 - 2 / (9 * df) + z * np.sqrt(2 / (9 * df))) ** 3


def chi2(counts, expected):
    return ((counts - expected) ** 2 / expected).sum()


def marker_positions(X, L):
    """First and second +1 positions, per sequence."""
    plus = X[..., 1] == 1.0                           # (T, n)
    assert np.all(plus.sum(0) == 2), "exactly two +1 markers"
    pos = np.sort(np.argwhere(plus.T)[:, 1].reshape(-1, 2), axis=1)
    return pos


def check_common(X, L, y, cfg):
    T, n, D = X.shape
    assert D == 2 and L.shape == (n,) and y.shape == (n,)
    assert L.min() >= cfg.T_min and L.max() <= cfg.T_max and T == L.max()
    rows = np.arange(n)
    m = X[..., 1]
    assert np.all(m[L - 1, rows] == -1), "last step is a -1 sentinel"
    assert np.all((m[0] == -1) | (m[0] == 1)), "first step is a sentinel unless marked"
    assert set(np.unique(m)) <= {-1.0, 0.0, 1.0}
    assert np.all((m == -1).sum(0) == 2 - (m[0] == 1)), "no other -1 markers"
    inside = np.arange(T)[:, None] < L
    assert np.all(X[~inside] == 0), "padding is zero"
    v = X[..., 0][inside]
    lo = -1 if cfg.task == "adding" else 0
    assert v.min() >= lo and v.max() <= 1
    pos = marker_positions(X, L)
    x1, x2 = X[pos[:, 0], rows, 0], X[pos[:, 1], rows, 0]
    expect = 0.5 + (x1 + x2) / 4 if cfg.task == "adding" else x1 * x2
    np.testing.assert_array_equal(y, expect)
    return pos


@pytest.mark.parametrize("task", mp.TASKS)
def test_reference_distribution(task):
    cfg = mp.Config(task=task)
    rng = np.random.default_rng(0)
    first, second, lengths = [], [], []
    for _ in range(400):
        X, L, y = mp.make_sequences(rng, 64, cfg)
        assert len(np.unique(L)) == 1, "one length per batch"
        pos = check_common(X, L, y, cfg)
        assert np.all((pos[:, 0] >= 1) & (pos[:, 0] <= 9))
        assert np.all((pos[:, 1] >= 10) & (pos[:, 1] < np.maximum(L // 2, 11)))
        first.append(pos[:, 0])
        if L[0] == 30:
            second.append(pos[:, 1])
        lengths.append(L[0])
    counts = np.bincount(np.concatenate(first), minlength=10)[1:]
    assert chi2(counts, counts.sum() / 9) < chi2_critical(8)
    counts = np.bincount(lengths, minlength=31)[20:]
    assert chi2(counts, counts.sum() / 11) < chi2_critical(10)
    counts = np.bincount(np.concatenate(second), minlength=15)[10:]   # L = 30: steps 10..14
    assert chi2(counts, counts.sum() / 5) < chi2_critical(4)
    values = X[1:-1, :, 0][X[1:-1, :, 1] == 0]
    lo = -1 if task == "adding" else 0
    counts = np.histogram(values, bins=10, range=(lo, 1))[0]
    assert chi2(counts, counts.sum() / 10) < chi2_critical(9)


@pytest.mark.parametrize("task", mp.TASKS)
def test_paper_distribution(task):
    T = 100
    cfg = mp.paper_config(task, T)
    X, L, y = mp.make_sequences(np.random.default_rng(1), 40_000, cfg)
    pos = check_common(X, L, y, cfg)
    counts = np.bincount(L, minlength=T + 11)[T:]
    assert len(counts) == 11 and chi2(counts, counts.sum() / 11) < chi2_critical(10)
    # first marker: one of steps 0..9, uniformly
    rows = np.arange(len(L))
    plus = X[..., 1] == 1
    # which of the two is "first-drawn" is not visible; test the joint law instead:
    # P(p1 = i, p2 = j) = 1/10 * 1/(m-1) for i in 0..9, j in 0..m-1, j != i
    m = T // 2 - 1
    assert pos[:, 1].max() <= max(9, m - 1) and pos.min() >= 0
    expected = np.zeros(m)
    expected[:10] = 0.1 + 0.9 / (m - 1)                 # the marker set covers i or j
    expected[10:] = 1 / (m - 1)
    counts = plus[:m].sum(1)
    assert counts.sum() == 2 * len(L)
    assert chi2(counts, expected * len(L)) < chi2_critical(m - 1)
    assert not plus[m:].any()


@pytest.mark.parametrize("task,fixed", [("multiplication", 1.0), ("adding", 0.0)])
def test_x1_rule_when_step_0_is_marked(task, fixed):
    cfg = mp.paper_config(task, 30)
    n = 200_000
    X, L, y = mp.make_sequences(np.random.default_rng(2), n, cfg)
    hit = X[0, :, 1] == 1.0
    # X1 on step 0 (1/10), or X2 on step 0: one of the m - 1 = 13 free steps among the
    # first T/2 - 1 = 14 (9/10 * 1/13). An off-by-one (15 steps: 1/14) gives 0.1643.
    p = 1 / 10 + 9 / 10 * 1 / 13
    assert abs(hit.mean() - p) < 3 * np.sqrt(p * (1 - p) / n)    # 0.0025, half the off-by-one's 0.0049
    assert np.all(X[0, hit, 0] == fixed)
    check_common(X, L, y, cfg)


def test_generator_is_deterministic_and_stream_matches_generator():
    cfg = mp.paper_config("multiplication", 40)
    a = mp.make_sequences(np.random.default_rng(9), 300, cfg)
    b = mp.make_sequences(np.random.default_rng(9), 300, cfg)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    s = mp.Stream(cfg, np.random.default_rng(9))
    X, L, y = mp.make_sequences(np.random.default_rng(9), s.chunk, cfg)
    for i in range(3):
        Xi, Li, yi = s.next()
        np.testing.assert_array_equal(Xi, X[: L[i], i:i + 1])
        assert Li[0] == L[i] and yi[0] == y[i]


def test_stack_trials_pads_and_reads_at_each_length():
    cfg = dataclasses.replace(mp.paper_config("multiplication", 20), batch_size=2)
    rng = np.random.default_rng(0)
    batches = [mp.make_sequences(rng, 2, cfg) for _ in range(3)]
    X, L, y = mp.stack_trials(batches, np.float64)
    assert X.shape == (max(b[1].max() for b in batches), 3, 2, 2)
    last = mp.last_step(X, L)
    assert np.all(last[..., 1] == -1)


@pytest.mark.parametrize("dist,batch", [("paper", 1), ("paper", 3), ("reference", 4)])
def test_lockstep_batch_equals_each_trials_next_batch_stacked(dist, batch):
    """The training step's data: slices of the running trials' stacked chunks, the
    same arrays as each trial's Stream.next() stacked, across chunk boundaries and
    after a trial stops (dropped from the running trials)."""
    cfg = (mp.paper_config("adding", 20, batch_size=batch) if dist == "paper"
           else mp.Config(task="adding", batch_size=batch))
    st = mp.new_state(cfg, [0, 1, 2])
    alone = [mp.Stream(cfg, mp.rng_for(s, 1)) for s in (0, 1, 2)]
    ids = np.arange(3)
    for step in range(700):
        if step == 300:
            ids = np.array([0, 2])                           # trial 1 stops
        got = mp.lockstep_batch(st, ids, np.float64)
        want = mp.stack_trials([alone[k].next() for k in ids], np.float64)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and np.array_equal(g, w)
    assert [s.pos for s in st.streams] == [s.pos for s in alone]


@pytest.mark.parametrize("cell", ["lstm", "lstm97"])
def test_both_cells_give_the_same_bits_on_a_sliced_batch_as_on_a_copy(cell):
    """lockstep_batch hands the forward pass a strided slice of the stacked chunks."""
    cfg = mp.paper_config("adding", 20, cell=cell, **({} if cell == "lstm97" else {"init_scale": 0.0, "gradient": "full",
                                                                                   "gate_biases": False}))
    st = mp.new_state(cfg, [0, 1])
    for _ in range(5):
        X, L, y = mp.lockstep_batch(st, np.arange(2), np.float64)
    assert not X.flags.c_contiguous
    P = st.params
    a, b = mp.forward(cfg, P, X, L), mp.forward(cfg, P, np.ascontiguousarray(X), L)
    assert np.array_equal(a[0], b[0])
    ga, gb = (mp.backward(cfg, P, c, np.ones_like(y)) for c in (a[1], b[1]))
    assert all(np.array_equal(ga[k], gb[k]) for k in ga)


def test_all_finite_tells_trials_apart_even_when_a_sum_overflows():
    big = np.full((3, 4), 1e308)                             # finite values whose sum is inf
    assert mp.all_finite([big, np.zeros((3, 2))], 3).tolist() == [True, True, True]
    big[1, 2] = np.nan
    grad = np.zeros((3, 2, 2))
    grad[2, 1, 0], grad[2, 0, 0] = -np.inf, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # quiet, as np.isfinite is
        assert mp.all_finite([big, grad], 3).tolist() == [True, False, False]


@pytest.mark.parametrize("task", mp.TASKS)
@pytest.mark.parametrize("dist", mp.DISTS)
def test_chance_mse_is_the_target_variance(task, dist):
    cfg = mp.paper_config(task, 40) if dist == "paper" else mp.Config(task=task)
    _, _, y = mp.make_sequences(np.random.default_rng(3), 200_000, cfg)
    assert y.var() == pytest.approx(mp.chance_mse(cfg), rel=0.01)
    if dist == "reference":
        assert mp.chance_mse(cfg) == pytest.approx(1 / 24 if task == "adding" else 1 / 9 - 1 / 16)
