import numpy as np

import multiplication_problem as mp


def quadratic(K=3, n=5, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, n, n))
    Q = A @ A.transpose(0, 2, 1) + n * np.eye(n)         # (K, n, n) positive definite
    c = rng.normal(size=(K, n))
    x_star = np.linalg.solve(Q, c[..., None])[..., 0]    # minimiser of x'Qx/2 - c'x
    return Q, c, x_star


def test_adam_reaches_the_minimum_of_a_quadratic():
    Q, c, x_star = quadratic()
    K = len(c)
    params = {"wy": np.zeros((K, 5))}
    state = mp.adam_init(params)
    for i in range(3000):
        lr = 0.05 if i < 2000 else 0.005
        grads = {"wy": (Q @ params["wy"][..., None])[..., 0] - c}
        mp.adam_step(params, grads, state, lr)
    np.testing.assert_allclose(params["wy"], x_star, atol=1e-3)


def test_adam_on_a_subset_of_trials_equals_adam_on_each():
    Q, c, _ = quadratic()
    grad = lambda p, k: (Q[k] @ p[..., None])[..., 0] - c[k]
    params = {"wy": np.ones((3, 5))}
    state = mp.adam_init(params)
    alone = [{"wy": np.ones((1, 5))} for _ in range(3)]
    alone_state = [mp.adam_init(a) for a in alone]
    for step in range(5):
        idx = np.array([0, 2]) if step % 2 else np.arange(3)      # trial 1 sits out odd steps
        mp.adam_step(params, {"wy": grad(params["wy"][idx], idx)}, state, 0.1, idx)
        for k in idx:
            mp.adam_step(alone[k], {"wy": grad(alone[k]["wy"], [k])}, alone_state[k], 0.1)
    for k in range(3):
        assert np.array_equal(params["wy"][k], alone[k]["wy"][0])
    assert list(state["t"]) == [5, 3, 5]


def test_clipping_caps_the_global_norm_per_trial():
    rng = np.random.default_rng(1)
    grads = {"Wx": rng.normal(size=(3, 2, 8)) * [[[10]], [[0.01]], [[1]]],
             "b": rng.normal(size=(3, 8)), "wy": rng.normal(size=(3, 4))}
    norms = mp.grad_norm(grads)
    clipped = mp.clip_grads(grads, 1.0)
    after = mp.grad_norm(clipped)
    for k in range(3):
        if norms[k] > 1:
            assert abs(after[k] - 1.0) < 1e-12
        else:
            assert after[k] == norms[k]
    # direction unchanged
    np.testing.assert_allclose(clipped["Wx"][0] * norms[0], grads["Wx"][0], rtol=1e-12)


def test_adam_first_two_steps_by_hand():
    """Bias-corrected Adam, written out with scalars: step 1 moves by lr * g / (|g| + eps),
    about lr; without the bias corrections it would move by about 3.2 lr."""
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    g1, g2 = 0.5, -0.25
    params = {"wy": np.array([[1.0]])}
    state = mp.adam_init(params)
    mp.adam_step(params, {"wy": np.array([[g1]])}, state, lr)
    x1 = 1.0 - lr * ((1 - b1) * g1 / (1 - b1)) / (np.sqrt((1 - b2) * g1 ** 2 / (1 - b2)) + eps)
    assert abs(params["wy"][0, 0] - x1) < 1e-15 and abs(x1 - 0.9) < 1e-7
    mp.adam_step(params, {"wy": np.array([[g2]])}, state, lr)
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2                      # 0.02
    v = b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2            # 0.00031225
    x2 = x1 - lr * (m / (1 - b1 ** 2)) / (np.sqrt(v / (1 - b2 ** 2)) + eps)
    assert abs(params["wy"][0, 0] - x2) < 1e-15
    assert abs(params["wy"][0, 0] - 0.873366) < 1e-6            # 0.9 - 0.1 * (0.02 / 0.19) / sqrt(0.00031225 / 0.001999)


def test_rmsprop_first_two_steps_by_hand():
    """torch.optim.RMSprop's defaults written out with scalars: no bias correction,
    so the first step moves by lr * g / (0.1 |g|) = 10 lr."""
    lr, alpha = 0.01, 0.99
    g1, g2 = 0.5, -0.25
    params = {"wy": np.array([[1.0]])}
    state = mp.optimizer_state(mp.Config(optimizer="rmsprop"), params)
    mp.rmsprop_step(params, {"wy": np.array([[g1]])}, state, lr)
    v1 = (1 - alpha) * g1 ** 2                                   # 0.0025
    x1 = 1.0 - lr * g1 / (np.sqrt(v1) + 1e-8)
    assert abs(params["wy"][0, 0] - x1) < 1e-15 and abs(x1 - 0.9) < 1e-7
    mp.rmsprop_step(params, {"wy": np.array([[g2]])}, state, lr)
    v2 = alpha * v1 + (1 - alpha) * g2 ** 2                      # 0.003100
    x2 = x1 - lr * g2 / (np.sqrt(v2) + 1e-8)
    assert abs(params["wy"][0, 0] - x2) < 1e-15
    assert abs(x2 - 0.944901) < 1e-6                             # 0.9 + 0.0025 / sqrt(0.0031)


def test_rmsprop_equals_torch():
    torch = __import__("pytest").importorskip("torch")
    rng = np.random.default_rng(3)
    w0, grads = rng.normal(size=(4, 3)), rng.normal(size=(6, 4, 3))
    params = {"Wx": w0[None].copy()}
    state = mp.optimizer_state(mp.Config(optimizer="rmsprop"), params)
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.RMSprop([w], lr=0.003)
    for g in grads:
        mp.rmsprop_step(params, {"Wx": g[None]}, state, 0.003)
        w.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(params["Wx"][0], w.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_rmsprop_run_resumes_bit_identically(tmp_path):
    cfg = mp.Config(optimizer="rmsprop", lr=1e-3, max_iters=30, eval_every=10, batch_size=4, n_test=32,
                    hidden=4, quiet=True, snapshot_every=0, checkpoint_every=12)
    whole = mp.train(cfg, [0, 1])
    path = str(tmp_path / "c.npz")
    first = mp.train(mp.dataclasses.replace(cfg, max_iters=12), [0, 1],
                     checkpoint=lambda st: mp.save_checkpoint(path, cfg, st))
    _, st = mp.load_checkpoint(path)
    assert st.it == 12 and set(st.opt) == {"v"}
    rest = mp.train(cfg, [0, 1], state=st)
    for k in whole["params"]:
        assert np.array_equal(whole["params"][k], rest["params"][k]), k
    assert not np.array_equal(first["params"]["Wx"], rest["params"]["Wx"])
