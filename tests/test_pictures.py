"""The picture scripts on a tiny saved run: files a user would open."""
import json
import os
import subprocess
import sys

import imageio.v2 as imageio
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--max-iters", "40", "--eval-every", "10", "--batch-size", "8", "--n-test", "64",
        "--snapshot-every", "2", "--quiet"]
PNGS = ["training_curve.png", "sample_sequences.png", "cell_state.png", "pred_vs_target.png"]


def script(name, args, cwd):
    return subprocess.run([sys.executable, os.path.join(ROOT, name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("pictures")
    # the picture scripts train to their own target unless told; this is the run they would train
    r = script("multiplication_problem.py", [*TINY, "--target-test-mse", "0.0005", "--save-dir", "run"], d)
    assert r.returncode == 0, r.stderr
    return d


def test_static_pictures(tiny_run):
    before = {f: (tiny_run / "run" / f).read_bytes() for f in ("weights.npz", "history.json")}
    r = script("visualize_multiplication_problem.py", [*TINY, "--out-dir", "viz"], tiny_run)
    assert r.returncode == 0, r.stderr
    for f, content in before.items():                 # the saved run was used, not retrained
        assert (tiny_run / "run" / f).read_bytes() == content, f
    for name in PNGS:
        path = tiny_run / "viz" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = imageio.imread(path)
        assert img.shape[0] >= 400 and img.shape[1] >= 400 and img.std() > 10, name


def test_gif_has_n_frames_of_equal_size(tiny_run):
    r = script("make_multiplication_problem_gif.py", [*TINY, "--n-frames", "7", "--out", "a.gif"], tiny_run)
    assert r.returncode == 0, r.stderr
    frames = imageio.mimread(tiny_run / "a.gif")
    assert len(frames) == 7 and len({f.shape for f in frames}) == 1
    assert not np.array_equal(frames[0], frames[-1])


def test_gif_refuses_more_frames_than_snapshots(tiny_run):
    r = script("make_multiplication_problem_gif.py", [*TINY, "--n-frames", "500", "--out", "b.gif"], tiny_run)
    assert r.returncode == 2 and "--n-frames" in r.stderr and "Traceback" not in r.stderr
    assert not (tiny_run / "b.gif").exists()


def test_missing_run_is_trained_first(tmp_path):
    r = script("visualize_multiplication_problem.py", [*TINY, "--run-dir", "fresh", "--out-dir", "v"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fresh" / "history.json").exists() and (tmp_path / "v" / PNGS[0]).exists()


@pytest.mark.parametrize("damage", ["weights", "history", "version"])
@pytest.mark.parametrize("name", ["visualize_multiplication_problem.py", "make_multiplication_problem_gif.py"])
def test_corrupt_run_is_exit_2_one_line(tiny_run, tmp_path, damage, name):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(tiny_run / "run", run)
    if damage == "weights":
        data = (run / "weights.npz").read_bytes()
        (run / "weights.npz").write_bytes(data[: len(data) // 2])
    elif damage == "history":
        (run / "history.json").write_text('{"version": 1, "config": ')
    else:
        h = json.loads((run / "history.json").read_text())
        (run / "history.json").write_text(json.dumps({**h, "version": 99}))
    before = {p: p.read_bytes() for p in run.iterdir()}
    r = script(name, [*TINY, "--out", "x.gif"] if "gif" in name else [*TINY, "--out-dir", "viz"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "run" in r.stderr and ("version" in r.stderr or "readable" in r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in run.iterdir()} == before
    assert not (tmp_path / "viz").exists() and not (tmp_path / "x.gif").exists()


def test_a_run_stopped_at_its_target_serves_any_larger_budget(tmp_path):
    """The reference's two picture commands give different --max-iters: the second
    reuses the first's run when it stopped at its target within both budgets."""
    quick = ["--eval-every", "10", "--batch-size", "8", "--n-test", "64", "--snapshot-every", "2", "--quiet",
             "--target-test-mse", "0.06"]
    r = script("visualize_multiplication_problem.py", [*quick, "--max-iters", "200", "--out-dir", "v"], tmp_path)
    assert r.returncode == 0, r.stderr
    history = (tmp_path / "run" / "history.json").read_bytes()
    import json
    h = json.loads(history)
    assert h["reached_target"] and h["iterations"] < 100
    r = script("make_multiplication_problem_gif.py", [*quick, "--max-iters", "100", "--n-frames", "3", "--out", "a.gif"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "history.json").read_bytes() == history, "reused, not retrained"
    r = script("make_multiplication_problem_gif.py", [*quick, "--max-iters", "5", "--n-frames", "3", "--out", "b.gif"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run" / "history.json").read_bytes())["iterations"] == 5, "a smaller budget retrains"


def test_sweep_picture_trains_the_sweep_once(tmp_path):
    args = [*TINY, "--seeds", "0,1", "--workers", "1", "--run-dir", "s", "--out-dir", "v"]
    r = script("visualize_multiplication_problem.py", args, tmp_path)
    assert r.returncode == 0, r.stderr
    sweep = (tmp_path / "s" / "sweep.json").read_bytes()
    img = imageio.imread(tmp_path / "v" / "sweep.png")
    assert img.shape[0] >= 400 and img.std() > 10
    (tmp_path / "v" / "sweep.png").unlink()
    r = script("visualize_multiplication_problem.py", args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s" / "sweep.json").read_bytes() == sweep, "drawn from the saved sweep, not retrained"
    assert (tmp_path / "v" / "sweep.png").exists()


def test_1997_cell_internals_put_each_gate_with_its_block():
    """The cell-state picture of a 1997 run: each cell's output is its block's
    output gate times h(s) = tanh(s/2) (body text), read back from the drawn arrays."""
    sys.path.insert(0, ROOT)
    import multiplication_problem as mp
    import visualize_multiplication_problem as vis
    cfg = mp.paper_config("adding", T=20)
    params = mp.init_params(cfg, [3])
    params = {k: 8 * v for k, v in params.items()}            # gates away from 0.5, so a mix-up shows
    X, L, _ = mp.make_sequences(np.random.default_rng(0), 1, cfg)
    d = vis.internals(cfg, params, X[:, 0], int(L[0]))
    out_gates = d["gates"]["output gates (one per block)"]      # (T, N)
    expected = np.repeat(out_gates, 2, axis=1) * np.tanh(d["state"] / 2)
    np.testing.assert_allclose(d["out"], expected, rtol=0, atol=1e-12)
    assert np.ptp(out_gates[:, 0] - out_gates[:, 1]) > 0.01


# ----------------------------------------------------------------------------
# the paper's results, drawn from the committed runs in results/

PAPER_PNGS = ["paper_table7.png", "paper_learning_curves.png", "long_lags_start.png", "forget_gate_T500.png"]


@pytest.mark.results
def test_paper_pictures_are_drawn_from_committed_results(tmp_path):
    listing = sorted(os.walk(os.path.join(ROOT, "results")))
    r = script("visualize_multiplication_problem.py", ["--paper-results", os.path.join(ROOT, "results"),
                                                       "--out-dir", "v", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "v")) == sorted(PAPER_PNGS)
    for name in PAPER_PNGS:
        img = imageio.imread(tmp_path / "v" / name)
        assert img.shape[0] > 350 and img.shape[1] > 800 and img[..., :3].std() > 20, name
    assert sorted(os.walk(os.path.join(ROOT, "results"))) == listing      # read only, nothing trained


@pytest.mark.results
def test_table7_picture_shows_the_sweeps_own_trials():
    sys.path.insert(0, ROOT)
    import visualize_multiplication_problem as viz
    runs = viz.paper_runs(os.path.join(ROOT, "results"))
    paper, sweeps = runs[("adding", 500)]
    assert paper[0] == 209_000
    for n in viz.CURVES:
        stopped, running = viz.trial_points(sweeps[n], "all_correct")
        assert len(stopped) + len(running) == sweeps[n]["n_trials"] == 10
        assert stopped.mean() == pytest.approx(sweeps[n]["mean_sequences"], rel=1e-12)
        assert np.median(stopped) == pytest.approx(sweeps[n]["median_sequences"], rel=1e-12)


@pytest.mark.results
def test_table7_picture_goes_past_the_paper_with_the_forget_gate_lstm_alone():
    """Every committed run past T = 1000 is in the picture, as the forget-gate LSTM's own
    trials, with no paper value and no other network there."""
    sys.path.insert(0, ROOT)
    import visualize_multiplication_problem as viz
    from paper_table import BEYOND
    runs = viz.paper_runs(os.path.join(ROOT, "results"))
    (n,) = [n for n, network in enumerate(viz.NETWORKS) if network[2] == "forget_gate"]
    done = [T for T, d in BEYOND.items() if os.path.exists(os.path.join(ROOT, "results", d, "sweep.json"))]
    assert 2000 in done and 5000 in done
    for T in done:
        paper, sweeps = runs[("adding", T)]
        assert paper is None and [s is None for s in sweeps] == [m != n for m in range(len(sweeps))]
        stopped, running = viz.trial_points(sweeps[n], "all_correct")
        assert len(stopped) + len(running) == len(sweeps[n]["trials"]) >= 3


@pytest.mark.results
def test_table7_picture_shows_the_forum_recipes_trials():
    """The forget-gate row: forum.json's working row at T = 100, one dot per trial."""
    import json
    sys.path.insert(0, ROOT)
    import visualize_multiplication_problem as viz
    runs = viz.paper_runs(os.path.join(ROOT, "results"))
    (n,) = [n for n, network in enumerate(viz.NETWORKS) if network[2] is None]
    with open(os.path.join(ROOT, "results", "pytorch_forum", "forum.json")) as f:
        (row,) = [r for r in json.load(f)["rows"] if r["row"] == "+ gradient clipping at norm 1"]
    stopped, running = viz.trial_points(runs[("adding", 100)][1][n], "all_correct")
    assert len(stopped) == 10 and len(running) == 0
    assert sorted(stopped) == sorted(t["sequences"] for t in row["trials"] if t["stopped"])
    assert runs[("adding", 1000)][1][n] is None and runs[("multiplication", "140")][1][n] is None


@pytest.mark.results
def test_weights_over_time_table_is_read_as_written():
    sys.path.insert(0, ROOT)
    import visualize_multiplication_problem as viz
    seqs, by_T = viz.read_weights_over_time(os.path.join(ROOT, "results", viz.WEIGHTS_OVER_TIME))
    assert seqs[0] == 0 and seqs[1] == 5_000 and sorted(by_T) == [100, 500]
    # the first row of the committed table: |w_y| / marker weight / |s| at the end / test MSE
    assert list(by_T[500][0]) == [0.0684, 0.058, 0.538, 0.0388]
    assert by_T[100][-1][0] == 1.0773 and len(seqs) == len(by_T[100]) == len(by_T[500])


@pytest.mark.parametrize("folder", ["missing", "empty", "foreign"])
def test_paper_pictures_refuse_a_missing_or_foreign_results_folder(tmp_path, folder):
    if folder != "missing":
        (tmp_path / "r").mkdir()
    if folder == "foreign":
        (tmp_path / "r" / "paper_adding_T100_rerun").mkdir()
        (tmp_path / "r" / "paper_adding_T100_rerun" / "sweep.json").write_text('{"not": "a sweep"}')
    r = script("visualize_multiplication_problem.py", ["--paper-results", "r", "--out-dir", "v"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


@pytest.mark.results
def test_every_picture_the_docs_show_exists():
    import glob
    import re
    for path in [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "*.md"))]:
        text = open(path).read()
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
            assert os.path.isfile(os.path.join(os.path.dirname(path), target)), (path, target)
