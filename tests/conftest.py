import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as the trainer: one thread per process (set before NumPy loads)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pytest_configure(config):
    config.addinivalue_line("markers", "results: reads the committed results/, README.md or docs/ (the claims "
                            "against the runs); python -m pytest -m 'not results' checks the code alone")
