"""The benchmark scripts still run against the current API (tiny sizes)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_speed_benchmark_runs_and_prints_its_figures():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_speed.py"), "--iters", "8",
                        "--repeats", "1", "--paper"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ms/iteration") >= 4 and "paper protocol adding" in r.stdout


def test_ablation_table_reads_the_saved_sweeps():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "ablation_table.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("| setting |")
