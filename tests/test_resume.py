"""Resuming: with any --workers, from any committed checkpoint; and no fresh
run replaces an interrupted or finished one without --overwrite."""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

import multiplication_problem as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# four trials of the 1997 cell that stop at different iterations (both paper stopping points)
SWEEP = ["--paper", "--T", "20", "--max-iters", "3000", "--eval-every", "500", "--n-seq", "1900,1850",
         "--n-test", "128", "--seeds", "0,2,4,7", "--quiet"]


def run(args, cwd):
    return subprocess.run([sys.executable, os.path.join(ROOT, "multiplication_problem.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def cli_config(args):
    """The Config the trainer builds from these flags for a sweep."""
    parsed = mp.build_parser().parse_args(args)
    return mp.dataclasses.replace(mp.config_from_args(parsed), snapshot_every=0)


def write_checkpoints(save_dir, cfg, groups, iterations):
    """Checkpoints as an interrupted run with these lockstep groups would leave them:
    group g trained up to iterations[g] (or until its trials all stopped)."""
    os.makedirs(save_dir)
    test = mp.make_test_set(cfg)
    for g, last in zip(groups, iterations):
        st = mp.new_state(cfg, g)
        mp.record_test(cfg, st, test, 0, slice(None))
        mp.run_until(cfg, st, test, last, log=lambda s: None)
        mp.save_checkpoint(mp.checkpoint_path(save_dir, g, len(groups)), cfg, st)


def sweep_files(d):
    sweep = json.loads((d / "sweep.json").read_text())
    with np.load(d / "sweep_weights.npz") as z:
        weights = {k: z[k] for k in z.files}
    return sweep["trials"], weights


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    r = run([*SWEEP, "--workers", "1", "--save-dir", "ref"], d)
    assert r.returncode == 0, r.stderr
    trials, weights = sweep_files(d / "ref")
    stops = [t["iterations"] for t in trials]
    assert all(t["reached_target"] for t in trials) and min(stops) < 1650 < max(stops), stops   # see the merge case
    return trials, weights


@pytest.mark.parametrize("groups,iterations,workers", [
    ([[0, 2], [4, 7]], [1000, 1650], 1),      # two groups at different iterations merge into one
    ([[0, 2, 4, 7]], [1200], 2),              # one group splits into two
    ([[0, 2], [4, 7]], [800, 3000], 3),       # a finished group (all stopped) beside one far behind
], ids=["merge", "split", "finished-group"])
def test_resume_with_other_workers_ends_with_the_same_weights(uninterrupted, tmp_path, groups, iterations, workers):
    cfg = cli_config([*SWEEP, "--save-dir", "b"])
    write_checkpoints(str(tmp_path / "b"), cfg, groups, iterations)
    r = run([*SWEEP, "--workers", str(workers), "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    trials, weights = sweep_files(tmp_path / "b")
    ref_trials, ref_weights = uninterrupted
    assert trials == ref_trials
    assert weights.keys() == ref_weights.keys()
    assert all(np.array_equal(weights[k], ref_weights[k]) for k in weights)
    assert not glob.glob(str(tmp_path / "b" / "checkpoint*"))      # finished: nothing left to resume
    # the run's stretches (one per piece in one process) chain up to its last iteration
    stretches = json.loads((tmp_path / "b" / "sweep.json").read_text())["stretches"]
    assert len(stretches) >= 2 and stretches[0]["iterations"][0] == 0
    assert all(a["iterations"][1] == b["iterations"][0] for a, b in zip(stretches, stretches[1:]))
    assert stretches[-1]["iterations"][1] == max(t["iterations"] for t in trials)
    assert all(s["elapsed_sec"][0] <= s["elapsed_sec"][1] and s["processor"] for s in stretches)
    assert all(0 < s["cpu_sec"] for s in stretches[1:])          # the resumed pieces trained
    assert sum(s["cpu_sec"] for s in stretches) <= stretches[-1]["elapsed_sec"][1] * 1.05 + 0.05


def test_a_larger_budget_on_resume_ends_as_if_it_had_been_the_budget_from_the_start(uninterrupted, tmp_path):
    """A run checkpointed under --max-iters 1000 resumes under 3000 (the budget bounds the
    run; it changes no step): the same trials and weights as a run given 3000 at once. A
    budget below the checkpoint's iteration is refused, exit 2, nothing touched."""
    small = [*SWEEP[:SWEEP.index("--max-iters")], "--max-iters", "1000", *SWEEP[SWEEP.index("--max-iters") + 2:]]
    write_checkpoints(str(tmp_path / "b"), cli_config([*small, "--save-dir", "b"]), [[0, 2, 4, 7]], [1000])
    before = snapshot(tmp_path / "b")
    r = run([*SWEEP[:SWEEP.index("--max-iters")], "--max-iters", "999", *SWEEP[SWEEP.index("--max-iters") + 2:],
             "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--max-iters" in r.stderr, r.stderr
    assert snapshot(tmp_path / "b") == before
    r = run([*SWEEP, "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    trials, weights = sweep_files(tmp_path / "b")
    ref_trials, ref_weights = uninterrupted
    assert trials == ref_trials
    assert all(np.array_equal(weights[k], ref_weights[k]) for k in ref_weights)
    assert json.loads((tmp_path / "b" / "sweep.json").read_text())["config"]["max_iters"] == 3000


def test_a_run_whose_budget_ran_out_goes_on_with_a_larger_one(uninterrupted, tmp_path):
    """A run whose budget (1000) ends trials that had not stopped writes its results
    and keeps its checkpoint; --resume --max-iters 3000 then ends with the trials and
    weights of a run given 3000 from the start. Once every trial has stopped, nothing
    is left: --resume is refused, one line, exit 2, nothing touched."""
    small = [*SWEEP[:SWEEP.index("--max-iters")], "--max-iters", "1000", *SWEEP[SWEEP.index("--max-iters") + 2:]]
    r = run([*small, "--workers", "2", "--save-dir", "b"], tmp_path)
    assert r.returncode == 0, r.stderr
    trials, _ = sweep_files(tmp_path / "b")
    assert not all(t["reached_target"] for t in trials)
    assert glob.glob(str(tmp_path / "b" / "checkpoint*"))
    r = run([*small, "--save-dir", "b"], tmp_path)
    assert r.returncode == 2 and "--resume" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = run([*SWEEP, "--workers", "1", "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    trials, weights = sweep_files(tmp_path / "b")
    ref_trials, ref_weights = uninterrupted
    assert trials == ref_trials
    assert all(np.array_equal(weights[k], ref_weights[k]) for k in ref_weights)
    assert not glob.glob(str(tmp_path / "b" / "checkpoint*"))
    before = snapshot(tmp_path / "b")
    r = run([*SWEEP, "--max-iters", "5000", "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "every trial stopped" in r.stderr, r.stderr
    assert snapshot(tmp_path / "b") == before


def test_a_budget_equal_to_the_checkpoints_iteration_ends_the_run_there(tmp_path):
    """--max-iters at the checkpoint's own iteration is taken: no step, the run ends
    there with its results written; its trials that had not stopped keep their
    checkpoint (a larger budget can continue them), the stopped ones need none."""
    write_checkpoints(str(tmp_path / "b"), cli_config([*SWEEP, "--save-dir", "b"]), [[0, 2, 4, 7]], [1000])
    at = [*SWEEP[:SWEEP.index("--max-iters")], "--max-iters", "1000", *SWEEP[SWEEP.index("--max-iters") + 2:]]
    r = run([*at, "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    sweep = json.loads((tmp_path / "b" / "sweep.json").read_text())
    assert not sweep["interrupted"] and max(t["iterations"] for t in sweep["trials"]) == 1000
    assert not all(t["reached_target"] for t in sweep["trials"])
    assert glob.glob(str(tmp_path / "b" / "checkpoint*"))


def test_regrouped_checkpoints_replace_the_old_ones(tmp_path):
    cfg = cli_config([*SWEEP, "--save-dir", "b"])
    write_checkpoints(str(tmp_path / "b"), cfg, [[0, 2], [4, 7]], [300, 500])
    states = mp.load_checkpoints(cfg, [0, 2, 4, 7], 1, str(tmp_path / "b"), log=lambda s: None)
    assert [s.seeds for s in states] == [[0, 2, 4, 7]] and states[0].it == 500
    assert sorted(os.listdir(tmp_path / "b")) == ["checkpoint.npz"]
    _, st = mp.load_checkpoint(str(tmp_path / "b" / "checkpoint.npz"))
    assert st.it == 500 and [c[0] for c in st.curve] == [0, 500]


def test_resume_with_other_seeds_is_refused(tmp_path):
    cfg = cli_config([*SWEEP, "--save-dir", "b"])
    write_checkpoints(str(tmp_path / "b"), cfg, [[0, 2], [4, 7]], [30, 30])
    before = {f: (tmp_path / "b" / f).read_bytes() for f in os.listdir(tmp_path / "b")}
    args = [a if a != "0,2,4,7" else "0,2,4" for a in SWEEP]
    r = run([*args, "--save-dir", "b", "--resume"], tmp_path)
    assert r.returncode == 2 and "--seeds" in r.stderr and "Traceback" not in r.stderr
    assert {f: (tmp_path / "b" / f).read_bytes() for f in os.listdir(tmp_path / "b")} == before


# ----------------------------------------------------------------------------
# no command replaces a result without --overwrite

TINY = ["--max-iters", "20", "--eval-every", "10", "--batch-size", "8", "--n-test", "32", "--quiet"]


def snapshot(d):
    return {f: (d / f).read_bytes() for f in sorted(os.listdir(d))}


@pytest.mark.parametrize("held", ["checkpoint", "finished sweep", "finished run"])
def test_a_fresh_run_never_replaces_a_result(tmp_path, held):
    d = tmp_path / "kept"
    if held == "checkpoint":
        write_checkpoints(str(d), cli_config([*SWEEP, "--save-dir", "kept"]), [[0, 2, 4, 7]], [20])
    else:
        args = [*TINY, "--seeds", "0,1"] if held == "finished sweep" else TINY
        assert run([*args, "--save-dir", "kept"], tmp_path).returncode == 0
    before = snapshot(d)
    for args in ([*TINY, "--seeds", "0,1"], TINY, [*SWEEP, "--workers", "1"]):
        r = run([*args, "--save-dir", "kept"], tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "--overwrite" in r.stderr
        assert ("interrupted run" in r.stderr) == (held == "checkpoint")
        # TINY's budget ends its trials unstopped: their checkpoints stay for --resume --max-iters LARGER
        assert ("--resume" in r.stderr) == (held == "checkpoint" or bool(glob.glob(str(d / "checkpoint*"))))
        assert snapshot(d) == before


def test_overwrite_replaces_and_resume_with_it_is_refused(tmp_path):
    write_checkpoints(str(tmp_path / "kept"), cli_config([*SWEEP, "--save-dir", "kept"]), [[0, 2], [4, 7]], [20, 20])
    before = snapshot(tmp_path / "kept")
    r = run([*SWEEP, "--save-dir", "kept", "--resume", "--overwrite"], tmp_path)
    assert r.returncode == 2 and "--overwrite" in r.stderr and snapshot(tmp_path / "kept") == before
    r = run([*TINY, "--seeds", "0,1", "--save-dir", "kept", "--overwrite"], tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(tmp_path / "kept"))
    assert [f for f in files if not f.startswith("checkpoint")] == ["sweep.json", "sweep_weights.npz"]
    assert all(mp.load_checkpoint(str(tmp_path / "kept" / f))[1].seeds in ([0], [1], [0, 1])   # the new run's only
               for f in files if f.startswith("checkpoint"))


def test_the_default_run_folder_is_retrained_as_before(tmp_path):
    assert run(TINY, tmp_path).returncode == 0
    assert run([*TINY, "--seed", "1"], tmp_path).returncode == 0
    assert json.loads((tmp_path / "run" / "history.json").read_text())["seed"] == 1


# ----------------------------------------------------------------------------
# every committed checkpoint resumes with the command the docs give

def documented_commands():
    """Every `python multiplication_problem.py ...` line in README.md and docs/*.md."""
    found = []
    for path in [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
        with open(path) as f:
            for line in f:
                m = re.search(r"python multiplication_problem\.py ([^`|]*)", line)
                if m:
                    found.append((os.path.relpath(path, ROOT), shlex.split(m.group(1).split("#")[0])))
    return found


@pytest.mark.results
def test_every_committed_checkpoint_resumes_with_the_documented_command(tmp_path):
    resumes = {}
    for where, args in documented_commands():
        if "--resume" in args:
            resumes[os.path.normpath(args[args.index("--save-dir") + 1])] = (where, args)
    folders = sorted({os.path.relpath(os.path.dirname(p), ROOT)
                      for p in glob.glob(os.path.join(ROOT, "results", "**", "checkpoint*.npz"), recursive=True)})
    assert folders, "no committed checkpoint found"
    for folder in folders:
        assert folder in resumes, f"{folder} holds a checkpoint but no document gives its --resume command"
        where, args = resumes[folder]
        copy = tmp_path / folder.replace(os.sep, "_")
        shutil.copytree(os.path.join(ROOT, folder), copy)
        parsed = mp.build_parser().parse_args(args)
        cfg = mp.config_from_args(parsed)
        seeds = mp.parse_seeds(parsed.seeds) if parsed.seeds else [cfg.seed]
        if parsed.seeds:
            cfg = mp.dataclasses.replace(cfg, snapshot_every=0)
        workers = parsed.workers if parsed.seeds else 1
        before = snapshot(copy)
        states = mp.load_checkpoints(cfg, seeds, workers, str(copy), log=lambda s: None)
        assert sorted(x for s in states for x in s.seeds) == seeds, where
        assert snapshot(copy) == before, f"{where}: the documented --workers regroups {folder}"


@pytest.mark.results
def test_every_documented_command_parses_to_the_saved_config_of_its_folder():
    checked = 0
    for where, args in documented_commands():
        if "--save-dir" not in args or "--export-data" in args:
            continue
        folder = os.path.join(ROOT, args[args.index("--save-dir") + 1])
        saved = os.path.join(folder, "sweep.json" if "--seeds" in args else "history.json")
        if not os.path.isfile(saved):
            assert not folder.startswith(os.path.join(ROOT, "results")), f"{where}: {folder} holds no run"
            continue
        parsed = mp.build_parser().parse_args(args)
        cfg = mp.config_from_args(parsed)
        if parsed.seeds:
            cfg = mp.dataclasses.replace(cfg, snapshot_every=0)
        with open(saved) as f:
            assert mp.same_settings(cfg, mp.config_from_dict(json.load(f)["config"])), f"{where}: {' '.join(args)}"
        checked += 1
    assert checked >= 30


def test_a_crash_while_regrouping_leaves_a_resumable_folder(tmp_path):
    """New checkpoints written, old ones not yet deleted: the most advanced copy of each seed wins."""
    cfg = cli_config([*SWEEP, "--save-dir", "b"])
    write_checkpoints(str(tmp_path / "old"), cfg, [[0, 2], [4, 7]], [300, 300])
    write_checkpoints(str(tmp_path / "b"), cfg, [[0, 2, 4, 7]], [500])
    for f in os.listdir(tmp_path / "old"):
        shutil.copy(tmp_path / "old" / f, tmp_path / "b" / f)
    states = mp.load_checkpoints(cfg, [0, 2, 4, 7], 2, str(tmp_path / "b"), log=lambda s: None)
    assert [s.seeds for s in states] == [[0, 2], [4, 7]] and {s.it for s in states} == {500}
    assert sorted(os.listdir(tmp_path / "b")) == ["checkpoint-seeds-0-2.npz", "checkpoint-seeds-4-7.npz"]


def test_a_group_that_spends_its_budget_leaves_its_checkpoint():
    cfg = mp.Config(max_iters=30, eval_every=10, batch_size=4, n_test=32, hidden=4, quiet=True, snapshot_every=0)
    written = []
    mp.train(cfg, [0, 1], checkpoint=lambda st: written.append(st.it))
    assert written == [30]


@pytest.mark.parametrize("held", ["checkpoint", "sweep", "run outside run/"])
def test_the_picture_scripts_never_train_over_another_result(tmp_path, held):
    d = tmp_path / "kept"
    if held == "checkpoint":
        write_checkpoints(str(d), cli_config([*SWEEP, "--save-dir", "kept"]), [[0, 2, 4, 7]], [20])
    else:
        extra = ["--seeds", "0,1"] if held == "sweep" else []
        assert run([*TINY, *extra, "--save-dir", "kept"], tmp_path).returncode == 0
    before = snapshot(d)
    for script in ("visualize_multiplication_problem.py", "make_multiplication_problem_gif.py"):
        for extra in ([], ["--seeds", "0,3"]):
            if script.startswith("make") and extra:
                continue
            r = subprocess.run([sys.executable, os.path.join(ROOT, script), *TINY, "--lr", "0.01", *extra,
                                "--run-dir", "kept", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == 2 and "--run-dir" in r.stderr and "Traceback" not in r.stderr, (script, r.stderr)
            assert snapshot(d) == before


def test_settings_a_run_does_not_use_do_not_tell_runs_apart():
    a = mp.paper_config("adding")
    assert mp.same_settings(a, mp.dataclasses.replace(a, target_test_mse=0.0005, eval_T=40, n_seq=(13,)))
    b = mp.paper_config("multiplication")
    assert not mp.same_settings(b, mp.dataclasses.replace(b, n_seq=(13,)))
    c = mp.Config()
    assert not mp.same_settings(c, mp.dataclasses.replace(c, target_test_mse=0.0005))
