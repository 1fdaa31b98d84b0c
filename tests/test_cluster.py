"""--scheduler: a sweep's lockstep groups on a real Dask cluster (a scheduler and
workers started here as processes on 127.0.0.1, stopped by every test that
starts them): the same bits as one process, with a worker killed mid-run, and
after the client is interrupted and the run resumed without a cluster."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import multiplication_problem as mp

pytest.importorskip("distributed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "multiplication_problem.py")
# four trials of the 1997 cell that stop at different iterations; a stretch of 100 iterations
SWEEP = ["--paper", "--T", "20", "--max-iters", "3000", "--eval-every", "500", "--n-seq", "1900,1850",
         "--n-test", "128", "--seeds", "0,2,4,7", "--checkpoint-every", "100", "--quiet"]
DEADLINE = 60          # seconds for anything a test waits on


def run(args, cwd, **kw):
    return subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=DEADLINE, **kw)


def wait_for(check, what):
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(what)
        time.sleep(0.05)


@contextlib.contextmanager
def cluster(n_workers=2):
    """A scheduler and n workers (one thread, no nanny: a killed worker stays dead)
    on 127.0.0.1 -> (address, worker processes); every process stopped on exit."""
    folder = tempfile.mkdtemp(prefix="cluster-")
    info = os.path.join(folder, "scheduler.json")
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                       "--port", "0", "--no-dashboard", "--scheduler-file", info], cwd=folder,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(info) and os.path.getsize(info) > 0, "the scheduler's address")
        with open(info) as f:
            address = json.load(f)["address"]
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", info,
                                     "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"],
                                    cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(n_workers)]
        procs += workers
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=DEADLINE)


def sweep_files(d):
    with open(d / "sweep.json") as f:
        trials = json.load(f)["trials"]
    with np.load(d / "sweep_weights.npz") as z:
        return trials, {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    d = tmp_path_factory.mktemp("local")
    r = run([*SWEEP, "--workers", "1", "--save-dir", "ref"], d)
    assert r.returncode == 0, r.stderr
    return sweep_files(d / "ref")


def assert_same_run(d, one_process):
    trials, weights = sweep_files(d)
    ref_trials, ref_weights = one_process
    assert trials == ref_trials
    assert weights.keys() == ref_weights.keys() and all(np.array_equal(weights[k], ref_weights[k]) for k in weights)


def test_a_sweep_on_the_cluster_equals_one_process(tmp_path, one_process):
    """Two lockstep groups as tasks on two workers, in stretches of 100 iterations:
    the weights, trials and stopping points of --workers 1, bit for bit; a --resume
    of another config is refused before anything is touched."""
    with cluster() as (address, _):
        r = run([*SWEEP, "--workers", "2", "--scheduler", address, "--save-dir", "c"], tmp_path)
        assert r.returncode == 0, r.stderr
        assert_same_run(tmp_path / "c", one_process)
        assert not list((tmp_path / "c").glob("checkpoint*"))          # every trial stopped
        other = [{"1900,1850": "1900", "3000": "100"}.get(a, a) for a in SWEEP]    # its budget keeps a checkpoint
        assert run([*other, "--workers", "1", "--save-dir", "o"], tmp_path).returncode == 0
        before = {f.name: f.read_bytes() for f in (tmp_path / "o").iterdir()}
        r = run([*SWEEP, "--scheduler", address, "--save-dir", "o", "--resume"], tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "other settings" in r.stderr, r.stderr
        assert {f.name: f.read_bytes() for f in (tmp_path / "o").iterdir()} == before


def sweep_on(address, tmp_path, act):
    """The sweep as a client process on the cluster at `address`; `act(client)` once its
    first checkpoint is written -> (its exit status, its stderr). The client never outlives it."""
    client = subprocess.Popen([sys.executable, MAIN, *SWEEP, "--workers", "2", "--scheduler", address,
                               "--save-dir", "c"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_for(lambda: list((tmp_path / "c").glob("checkpoint*")) or client.poll() is not None, "a first checkpoint")
        act(client)
        _, err = client.communicate(timeout=DEADLINE)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    return client.returncode, err


def test_a_killed_worker_costs_a_stretch_not_a_bit(tmp_path, one_process):
    """One of the two workers is SIGKILLed once the first stretch has returned:
    Dask runs its task again on the other, and the run ends with the same bits."""
    with cluster() as (address, workers):
        status, err = sweep_on(address, tmp_path, lambda client: workers[0].kill())
    assert status == 0, err
    assert_same_run(tmp_path / "c", one_process)


def test_an_interrupted_client_resumes_without_a_cluster(tmp_path, one_process):
    """Ctrl-C on the client leaves checkpoints (the stretches that returned) and
    the results so far; --resume in one local process ends with the same bits."""
    with cluster() as (address, _):
        status, err = sweep_on(address, tmp_path, lambda client: client.send_signal(signal.SIGINT))
    if status == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert status == 128 + signal.SIGINT, err
    with open(tmp_path / "c" / "sweep.json") as f:
        assert json.load(f)["interrupted"]
    r = run([*SWEEP, "--workers", "1", "--save-dir", "c", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert_same_run(tmp_path / "c", one_process)


def test_no_cluster_no_run(tmp_path):
    """--scheduler for a single run is refused before any connection; an address
    nobody answers is one line (UsageError), nothing written."""
    r = run(["--max-iters", "5", "--scheduler", "tcp://127.0.0.1:1", "--save-dir", "x"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--scheduler" in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()
    with pytest.raises(mp.UsageError, match="--scheduler: cannot reach"):
        mp.connect("tcp://127.0.0.1:1", timeout=1)
