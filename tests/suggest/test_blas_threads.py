"""Every jaicat process runs numpy's matrix products on the calling thread (runtime.one_blas_thread,
taken by cli.main before anything runs): a threaded OpenBLAS product leaves a second thread spinning
~0.1 s after each suggestion page. Only numpy's BLAS is limited, never torch's or ONNX Runtime's
thread pools, and the answers are those of the threaded products."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from jaicat.suggest.stats import VectorIndex

SERVER = Path(__file__).resolve().parents[2] / "server"

PROBE = """
import json, sys
import torch
from threadpoolctl import threadpool_info
from jaicat.cli.main import main

def pools():
    return {"blas": [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"],
            "openmp": [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"],
            "torch": torch.get_num_threads()}

before = pools()
try:
    main(["--version"])
except SystemExit:
    pass
print(json.dumps({"before": before, "after": pools()}))
"""


def test_a_command_runs_numpy_blas_on_one_thread_and_leaves_other_pools_alone():
    env = {**os.environ, "PYTHONPATH": str(SERVER), "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert pools["before"]["blas"] and all(n == 2 for n in pools["before"]["blas"])  # numpy's, as it starts
    assert all(n == 1 for n in pools["after"]["blas"])
    assert pools["after"]["openmp"] == pools["before"]["openmp"]  # torch's OpenMP pool
    assert pools["after"]["torch"] == pools["before"]["torch"] == 2


def test_products_on_one_thread_equal_the_threaded_ones():
    # 1500 folders x 512 floats: large enough that OpenBLAS splits each product over its threads
    rng = np.random.default_rng(3)
    vi = VectorIndex(capacity=2000)
    for i in range(3000):
        v = rng.standard_normal(512).astype(np.float32)
        vi.add(v / np.linalg.norm(v), i % 1500, i, 1.0 + i / 1000)
    queries = rng.standard_normal((8, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with threadpool_limits(limits=2, user_api="blas"):
        threaded = vi.neighbours_many(queries, 16), [vi.centroid_sims(q, 1500) for q in queries]
    with threadpool_limits(limits=1, user_api="blas"):
        single = vi.neighbours_many(queries, 16), [vi.centroid_sims(q, 1500) for q in queries]
    for (s1, f1), (s2, f2) in zip(threaded[0], single[0], strict=True):
        assert np.array_equal(s1, s2) and np.array_equal(f1, f2)
    for c1, c2 in zip(threaded[1], single[1], strict=True):
        assert np.allclose(c1, c2, rtol=0, atol=1e-6)
