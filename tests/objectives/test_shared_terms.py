"""Terms that keep work buffers between calls (review of issue 7's fast paths).

``SeparablePooling`` (behind ``TopographicL1``, ``TopographicICASparsity`` and the grouping
operator) and the fixed-basis reconstruction keep work arrays between calls so that large
evaluations do not page-fault fresh memory every time. Those buffers must

- be private to each thread: one term instance shared by several threads evaluating at once
  gives exactly the serial results (each thread reuses its own buffers);
- never reach the caller: every gradient is a fresh array;
- not travel with the term: pickling (a fitted estimator, a checkpoint) drops them, so the
  pickle of an evaluated term is as small as that of a fresh one, and the unpickled term
  evaluates to the same results.
"""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest

from sparselearn.objectives import (
    Reconstruction,
    SmoothedL1,
    TopographicICASparsity,
    TopographicL1,
    grouping_matrix,
)
from sparselearn.objectives._kernels import SeparablePooling

EPS = 1e-2
THREADS = 8


def _sc_terms():
    """Sparse-coding s-step terms at the UFLDL shape (n = 64, k = 121): the separable
    topographic kernel, the fixed-basis reconstruction in its direct form (which keeps an
    n × m residual buffer) and the weighted sum of both."""
    rng = np.random.default_rng(0)
    V = grouping_matrix((11, 11), pool=3)
    A = rng.standard_normal((64, 121))
    x = rng.standard_normal((64, 1500))
    topo = TopographicL1(V, EPS)
    topo.grouping.separable.block = 128  # many blocks per call: many buffer reuses to interleave
    bound = Reconstruction.fixed_basis(A, x)
    assert topo.grouping.separable is not None and bound._accumulate_direct
    total = (1 / 1500) * bound + 0.1 * topo + 0.01 * SmoothedL1(EPS)
    return {"topographic": topo, "fixed_basis": bound, "weighted_sum": total}


def _run_threads(fn, count):
    """Run ``fn(i)`` for ``i < count`` on ``count`` threads started together; return results."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def work(i):
        try:
            barrier.wait()
            results[i] = [fn(i) for _ in range(3)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("which", ["topographic", "fixed_basis", "weighted_sum"])
def test_one_term_shared_by_threads_equals_serial(which):
    term = _sc_terms()[which]
    rng = np.random.default_rng(1)
    codes = [rng.standard_normal((121, 1500)) for _ in range(THREADS)]
    serial = [term.value_and_grad({"s": s}, "s") for s in codes]
    serial_values = [term.value({"s": s}) for s in codes]

    def evaluate(i):
        value, grad = term.value_and_grad({"s": codes[i]}, "s")
        return value, grad, term.value({"s": codes[i]})

    for i, runs in enumerate(_run_threads(evaluate, THREADS)):
        for value, grad, value_only in runs:
            # the same arithmetic on the same inputs: bitwise equal to the serial call
            assert value == serial[i][0] and value_only == serial_values[i]
            np.testing.assert_array_equal(grad, serial[i][1])


def test_topographic_ica_sparsity_shared_by_threads_equals_serial():
    rng = np.random.default_rng(2)
    V = grouping_matrix((6, 6), pool=3)
    term = TopographicICASparsity(V, EPS, block=300)  # blocked over m, separable kernel
    term.grouping.separable.block = 64
    x = rng.standard_normal((20, 1200))
    filters = [rng.standard_normal((36, 20)) for _ in range(THREADS)]
    serial = [term.value_and_grad({"W": W, "x": x}, "W") for W in filters]

    def evaluate(i):
        return term.value_and_grad({"W": filters[i], "x": x}, "W")

    for i, runs in enumerate(_run_threads(evaluate, THREADS)):
        for value, grad in runs:
            assert value == serial[i][0]
            np.testing.assert_array_equal(grad, serial[i][1])


def test_threads_keep_their_own_buffers():
    kernel = SeparablePooling(4, 5, 2, True, block=16)
    Y = np.random.default_rng(3).standard_normal((20, 40))
    out = np.empty_like(Y)
    kernel(Y, EPS, 1.0, out)
    mine = kernel._buffers(Y.dtype, 14, second=False)[0]
    seen = []
    _run_threads(lambda i: seen.append(kernel._buffers(Y.dtype, 14, second=False)[0]), 2)
    assert all(not np.shares_memory(mine, other) for other in seen)
    assert kernel._buffers(Y.dtype, 14, second=False)[0] is mine  # still reused in this thread


@pytest.mark.parametrize("which", ["topographic", "fixed_basis", "weighted_sum"])
def test_gradients_are_fresh_arrays(which):
    term = _sc_terms()[which]
    s = np.random.default_rng(4).standard_normal((121, 1500))
    grads = [term.value_and_grad({"s": s}, "s")[1] for _ in range(3)]
    grads += [term.grad({"s": s}, "s")]
    for i, a in enumerate(grads):
        assert not any(np.shares_memory(a, b) for b in grads[i + 1 :])
    first = grads[0].copy()
    term.value_and_grad({"s": 2 * s}, "s")  # a later call must not overwrite a returned array
    np.testing.assert_array_equal(grads[0], first)


def _pickle_cases():
    terms = _sc_terms()
    rng = np.random.default_rng(5)
    V = grouping_matrix((6, 6), pool=3)
    tica = TopographicICASparsity(V, EPS, block=300)
    x = rng.standard_normal((20, 1200))
    W = rng.standard_normal((36, 20))
    s = rng.standard_normal((121, 1500))
    cases = [(terms[name], {"s": s}, "s") for name in ("topographic", "fixed_basis",
                                                       "weighted_sum")]
    cases.append((tica, {"W": W, "x": x}, "W"))
    return cases


@pytest.mark.parametrize("case", range(4))
def test_pickle_drops_work_buffers(case):
    term, variables, wrt = _pickle_cases()[case]
    fresh_size = len(pickle.dumps(term))
    value, grad = term.value_and_grad(variables, wrt)
    term.value(variables)
    (0.5 * term).value_and_grad(variables, wrt)  # fills the weighted (accumulating) caches too
    blob = pickle.dumps(term)
    # the buffers (k × m and n × m arrays, ≥ 0.7 MB here) are not pickled: the evaluated term
    # pickles to the size of a fresh one
    assert len(blob) <= fresh_size + 1024, (len(blob), fresh_size)
    for restored in (pickle.loads(blob), copy.deepcopy(term)):
        value2, grad2 = restored.value_and_grad(variables, wrt)
        assert value2 == value
        np.testing.assert_array_equal(grad2, grad)
        assert restored.value(variables) == term.value(variables)
        # and the restored term is still safe to share between threads
        runs = _run_threads(lambda i, t=restored: t.value_and_grad(variables, wrt), 4)
        for run in runs:
            for v, g in run:
                assert v == value
                np.testing.assert_array_equal(g, grad)
