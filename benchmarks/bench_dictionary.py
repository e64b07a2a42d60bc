"""Dictionary learning: our unit-norm sparse coding vs MiniBatchDictionaryLearning and SPAMS.

Data: 60,000 grey 8 × 8 patches from the embedded natural images
(``patches.sample_patches("natural", 8, ...)``), each patch's mean removed, ZCA-whitened with
ε = 0.01 (``patches.Whitener`` fitted on the 50,000 training patches); the other 10,000 are held
out. Every contender learns 128 atoms at α ∈ {1.0, 0.3}.

Judge: one common lasso encoder for every dictionary, scikit-learn's
``sparse_encode(algorithm="lasso_cd", alpha=α)``, which solves
``min_s ½‖x − Dᵀs‖² + α‖s‖₁`` per held-out patch; reported are the mean of that objective, the
mean number of non-zeros, and the fit time (median of the repeats). Dictionaries are used as
returned (unit-norm atoms for ours and scikit-learn, atoms of norm ≤ 1 for SPAMS).

Mapping λ to α, honestly: our trainer minimises, per batch of b examples,
``(1/b)‖As − x‖² + λ Σ √(s² + ε)``, i.e. per example ``½‖As_j − x_j‖² + (bλ/2) Σ √(s_j² + ε)``
after halving; so ``λ = 2α/b``. The smoothed penalty ``√(s² + ε)`` exceeds ``|s|`` by at most
``√ε`` per entry and is never exactly sparse, so our fit optimises a nearby but different
problem; the common encoder removes that difference from the score.

A *diagnostic* row keeps our trainer's A-step (MOD on the current batch) but computes exact-L1
codes by FISTA (50 iterations), to separate the two causes of a gap. A *prototype* row (not in
``trainers/``) shows the change that would close the gap: exact-L1
codes by FISTA with soft thresholding on ``G = AᵀA``, and the online dictionary update of
Mairal et al. (2010) — running sufficient statistics ``Σ ssᵀ``, ``Σ xsᵀ`` over all batches and
one block-coordinate pass over the atoms per batch — instead of a least-squares (MOD) update
on the current batch alone.
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import numpy as np
from bench_common import Section, Settings, Target, contenders_for, fmt, table, verdict

ALPHAS = (1.0, 0.3)


def _data(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    from patches import Whitener, remove_patch_mean, sample_patches

    n_train, n_test = (5000, 1000) if settings.quick else (50000, 10000)
    rng = np.random.default_rng(settings.seed)
    x = remove_patch_mean(sample_patches("natural", (8, 8), n_train + n_test, rng))
    train, test = x[:, :n_train], x[:, n_train:]
    whitener = Whitener(method="zca", epsilon=0.01).fit(train)
    return (np.ascontiguousarray(whitener.transform(train)),
            np.ascontiguousarray(whitener.transform(test)))


def _configs(quick: bool) -> dict[str, Any]:
    if quick:
        return {"ours_iter": 5, "ours_batch": 500, "sk_epochs": 1, "spams_iter": 20,
                "proto_iter": 20, "k": 32, "repeat": 1}
    return {"ours_iter": 50, "ours_batch": 2000, "sk_epochs": 10, "spams_iter": 1000,
            "proto_iter": 1000, "k": 128, "repeat": 3}


def encode_score(test: np.ndarray, D: np.ndarray, alpha: float) -> tuple[float, float]:
    """Held-out ``½‖x − Dᵀs‖² + α‖s‖₁`` per patch and mean non-zeros (``D``: atoms as rows)."""
    from sklearn.decomposition import sparse_encode

    X = test.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S = sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha, max_iter=2000)
    residual = X - S @ D
    objective = 0.5 * np.einsum("ij,ij->i", residual, residual) + alpha * np.abs(S).sum(axis=1)
    return float(objective.mean()), float((S != 0).sum(axis=1).mean())


def _fit_ours(train, alpha, cfg, seed):
    from trainers import SparseCoding

    b = cfg["ours_batch"]
    model = SparseCoding(n_components=cfg["k"], constraint="unit_norm", lambda_=2 * alpha / b,
                         epsilon=1e-4, batch_size=b, max_iter=cfg["ours_iter"], s_max_iter=50,
                         random_state=seed)
    return model.fit(train.T).components_


def _fit_sklearn(train, alpha, cfg, seed):
    from sklearn.decomposition import MiniBatchDictionaryLearning

    model = MiniBatchDictionaryLearning(n_components=cfg["k"], alpha=alpha, batch_size=256,
                                        max_iter=cfg["sk_epochs"], random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(train.T).components_


def _fit_spams(train, alpha, cfg, seed):
    import spams

    X = np.asfortranarray(train)
    D = spams.trainDL(X, K=cfg["k"], lambda1=alpha, mode=2, iter=cfg["spams_iter"],
                      batchsize=512, numThreads=1, verbose=False)
    return np.ascontiguousarray(np.asarray(D).T)


def _fista(A: np.ndarray, x: np.ndarray, alpha: float, iters: int) -> np.ndarray:
    """FISTA for ``min_s ½‖As − x‖² + α‖s‖₁`` (all columns at once, on ``G = AᵀA``)."""
    G = A.T @ A
    B = A.T @ x
    L = float(np.linalg.eigvalsh(G)[-1])
    s = np.zeros((A.shape[1], x.shape[1]), dtype=x.dtype)
    y = s.copy()
    t = 1.0
    threshold = alpha / L
    for _ in range(iters):
        z = G @ y
        z -= B
        z *= -1.0 / L
        z += y
        s_new = np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = s_new + ((t - 1.0) / t_new) * (s_new - s)
        s, t = s_new, t_new
    return s


def _fit_prototype(train, alpha, cfg, seed, batch: int = 512, code_iters: int = 30):
    """Online dictionary learning (Mairal et al. 2010) with FISTA codes; atoms as rows."""
    rng = np.random.default_rng(seed)
    n, m = train.shape
    k = cfg["k"]
    A = train[:, rng.choice(m, size=k, replace=False)].copy()
    A /= np.linalg.norm(A, axis=0)
    SS = np.zeros((k, k))
    XS = np.zeros((n, k))
    for t in range(1, cfg["proto_iter"] + 1):
        x = train[:, np.sort(rng.choice(m, size=batch, replace=False))]
        s = _fista(A, x, alpha, code_iters)
        beta = 1.0 - 1.0 / t
        SS *= beta
        XS *= beta
        SS += (s @ s.T) / batch
        XS += (x @ s.T) / batch
        for j in range(k):
            if SS[j, j] <= 1e-12:
                continue
            u = A[:, j] + (XS[:, j] - A @ SS[:, j]) / SS[j, j]
            A[:, j] = u / max(float(np.linalg.norm(u)), 1.0)
    return np.ascontiguousarray(A.T)


def _fit_mod_fista(train, alpha, cfg, seed, code_iters: int = 50):
    """Diagnostic: our trainer's A-step (MOD on the current batch, unit-norm atoms) with exact-L1
    FISTA codes instead of the smoothed-L1 s-step; separates the two causes of the gap."""
    rng = np.random.default_rng(seed)
    n, m = train.shape
    k, b = cfg["k"], cfg["ours_batch"]
    A = train[:, rng.choice(m, size=k, replace=False)].copy()
    A /= np.linalg.norm(A, axis=0)
    for _ in range(cfg["ours_iter"]):
        x = train[:, np.sort(rng.choice(m, size=b, replace=False))]
        s = _fista(A, x, alpha, code_iters)
        gram = s @ s.T
        gram[np.diag_indices(k)] += 1e-10 * max(float(np.trace(gram)) / k, 1e-300)
        used = np.einsum("ij,ij->i", s, s) > 0
        A_new = np.linalg.lstsq(gram, s @ x.T, rcond=None)[0].T
        norms = np.linalg.norm(A_new, axis=0)
        keep = used & (norms > 1e-12)
        A[:, keep] = A_new[:, keep] / norms[keep]
        dead = ~keep
        if dead.any():
            picks = x[:, rng.choice(b, size=int(dead.sum()), replace=False)]
            A[:, dead] = picks / np.maximum(np.linalg.norm(picks, axis=0), 1e-300)
    return np.ascontiguousarray(A.T)


def run(settings: Settings) -> Section:
    """Fit every contender at both α, score all with the common encoder."""
    names, skipped = contenders_for(settings, ["ours", "sklearn", "spams"])
    if "sklearn" not in names:
        skipped.append("the common encoder is scikit-learn's sparse_encode: nothing was scored")
        return Section("dictionary", "Dictionary learning", "scikit-learn is not installed.",
                       [], skipped)
    cfg = _configs(settings.quick)
    train, test = _data(settings)
    fitters = []
    if "ours" in names:
        fitters.append(("ours SparseCoding (unit_norm)", _fit_ours))
    fitters.append(("scikit-learn MiniBatchDictionaryLearning", _fit_sklearn))
    if "spams" in names:
        fitters.append(("SPAMS trainDL", _fit_spams))
    if "ours" in names:
        fitters.append(("diagnostic: our MOD A-step + exact-L1 FISTA codes", _fit_mod_fista))
        fitters.append(("prototype: online BCD + FISTA (not in trainers/)", _fit_prototype))
    rows = []
    results: dict[float, dict[str, tuple[float, float, float]]] = {}
    for alpha in ALPHAS:
        results[alpha] = {}
        for label, fitter in fitters:
            times, D = [], None
            for _ in range(cfg["repeat"]):
                start = time.perf_counter()
                D = fitter(train, alpha, cfg, settings.seed)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            objective, nnz = encode_score(test, D, alpha)
            results[alpha][label] = (objective, nnz, seconds)
        ref = results[alpha].get("SPAMS trainDL")
        for label, (objective, nnz, seconds) in results[alpha].items():
            rel = None if ref is None else f"{100 * (objective / ref[0] - 1):+.2f} %"
            ratio = None if ref is None else f"{seconds / ref[2]:.2f}×"
            rows.append([alpha, label, fmt(objective, 5), rel, fmt(nnz), fmt(seconds), ratio])
    reference = {alpha: _encoder_check(test, alpha, train, cfg) for alpha in ALPHAS}
    body = [
        f"{train.shape[1]} training and {test.shape[1]} held-out patches, {cfg['k']} atoms, "
        f"fit time = median of {cfg['repeat']} fit(s). Settings: ours "
        f"`SparseCoding(constraint='unit_norm', lambda_=2α/b, epsilon=1e-4, "
        f"batch_size={cfg['ours_batch']}, max_iter={cfg['ours_iter']}, s_max_iter=50)` "
        f"({cfg['ours_iter'] * cfg['ours_batch'] / train.shape[1]:.1f} epochs); scikit-learn "
        f"`MiniBatchDictionaryLearning(batch_size=256, max_iter={cfg['sk_epochs']})` (its own "
        f"early stopping); SPAMS `trainDL(mode=2, iter={cfg['spams_iter']}, batchsize=512, "
        f"numThreads=1)` ({cfg['spams_iter'] * 512 / train.shape[1]:.1f} epochs); prototype: "
        f"{cfg['proto_iter']} batches of 512, 30 FISTA iterations each.",
        "",
        table(["α", "contender", "held-out ½‖x−Ds‖²+α‖s‖₁", "vs SPAMS", "mean non-zeros",
               "fit [s]", "time / SPAMS"], rows),
        "",
        "Encoder check: the common encoder's objective minus that of 3000 FISTA iterations, "
        "relative, on a coherent dictionary (random training patches as atoms): " + "; ".join(
            f"α={a}: {v:+.1e}" for a, v in reference.items())
        + " (scikit-learn's `lasso_lars` is off by up to 1 % on the same problem, so it is not "
        "used).",
    ]
    targets = _judge(results)
    return Section("dictionary", "Dictionary learning", "\n".join(body), targets, skipped,
                   notes=_notes(targets, results))


def _notes(targets: list[Target], results: dict) -> str:
    """Why the dictionary targets were missed and what would close them."""
    if not targets or all(t.met is not False for t in targets):
        return ""
    keys = {"ours": "ours SparseCoding (unit_norm)",
            "diag": "diagnostic: our MOD A-step + exact-L1 FISTA codes",
            "proto": "prototype: online BCD + FISTA (not in trainers/)",
            "spams": "SPAMS trainDL"}
    gaps = []
    for alpha, per in results.items():
        if keys["spams"] not in per:
            continue
        ref = per[keys["spams"]][0]
        cells = [f"{name} {100 * (per[key][0] / ref - 1):+.1f} %"
                 for name, key in (("ours", keys["ours"]), ("diagnostic", keys["diag"]),
                                   ("prototype", keys["proto"])) if key in per]
        gaps.append(f"α={alpha}: " + ", ".join(cells))
    text = []
    if gaps:
        text.append("Held-out objective against SPAMS — " + "; ".join(gaps) + ". Exact-L1 "
                    "codes alone (diagnostic) recover only a small part of the gap; replacing "
                    "the A-step recovers most of it (prototype).")
    text.append(
        "Why: each A-step is a least-squares (MOD) fit to the codes of the current batch "
        "only, so the dictionary follows the noise of every 2000-example batch and never "
        "averages over the data; and the s-step minimises a smoothed L1 with a fixed step "
        "1/L whose L is dominated by λ/√ε, so 50 iterations leave the codes unconverged and "
        "not sparse. Fix (trainers/sparse_coding.py, unit_norm): the online update of Mairal "
        "et al. (2010) — running Σ ssᵀ and Σ xsᵀ over all batches with a forgetting factor, "
        "then one block-coordinate pass over the atoms with projection on the unit ball — "
        "and an exact-L1 s-step (FISTA with soft thresholding on G = AᵀA, or LARS / "
        "coordinate descent on the Gram, whose cost falls with the number of non-zeros, "
        "which is what keeps SPAMS fast at α = 1). The prototype's atom loop is plain Python "
        "(128 small numpy updates per batch), so its fit time is an upper bound, not a "
        "target.")
    sk = next((t for t in targets if "scikit-learn" in t.name), None)
    if sk is not None and sk.met is False:
        text.append(
            "Against scikit-learn's time: its MiniBatchDictionaryLearning stops early on this "
            "data (its `max_no_improvement` rule; about 100 batches of 256, half an epoch, in "
            "our trial runs), so ≤ 0.2× of it means "
            "beating SPAMS-level speed; the same exact-L1, sparsity-aware s-step is the way "
            "there.")
    return " ".join(text)


def _encoder_check(test: np.ndarray, alpha: float, train: np.ndarray, cfg: dict) -> float:
    """Relative gap between the lasso_cd objective and a 3000-iteration FISTA solution.

    On a coherent dictionary (random training patches as atoms), 1000 held-out patches.
    """
    rng = np.random.default_rng(1)
    D = train[:, rng.choice(train.shape[1], size=cfg["k"], replace=False)].T.copy()
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = test[:, :1000]
    cd, _ = encode_score(X, D, alpha)
    S = _fista(np.ascontiguousarray(D.T), X, alpha, 3000)
    residual = X - D.T @ S
    reference = float((0.5 * np.einsum("ij,ij->j", residual, residual)
                       + alpha * np.abs(S).sum(axis=0)).mean())
    return (cd - reference) / reference


def _judge(results: dict) -> list[Target]:
    ours_key = "ours SparseCoding (unit_norm)"
    spams_key, sk_key = "SPAMS trainDL", "scikit-learn MiniBatchDictionaryLearning"
    quality, vs_spams, vs_sk = [], [], []
    q_ok: list[bool | None] = []
    t_ok: list[bool | None] = []
    s_ok: list[bool | None] = []
    for alpha, per in results.items():
        ours = per.get(ours_key)
        spams = per.get(spams_key)
        sk = per.get(sk_key)
        if ours is None:
            continue
        if spams is not None:
            gap = ours[0] / spams[0] - 1.0
            quality.append(f"α={alpha}: {100 * gap:+.2f} %")
            q_ok.append(gap <= 0.01)
            ratio = ours[2] / spams[2]
            vs_spams.append(f"α={alpha}: {ratio:.2f}×")
            t_ok.append(ratio <= 3.0)
        else:
            q_ok.append(None)
            t_ok.append(None)
        if sk is not None:
            ratio = ours[2] / sk[2]
            vs_sk.append(f"α={alpha}: {ratio:.2f}×")
            s_ok.append(ratio <= 0.2)
    if not q_ok:
        return []

    def combine(flags: list[bool | None]) -> bool | None:
        if any(f is False for f in flags):
            return False
        return True if flags and all(f is True for f in flags) else None

    out = [
        Target("Dictionary: held-out objective within 1 % of SPAMS trainDL", combine(q_ok),
               "; ".join(quality) or "SPAMS missing", "ours / SPAMS − 1"),
        Target("Dictionary: fit time ≤ 3× SPAMS", combine(t_ok),
               "; ".join(vs_spams) or "SPAMS missing", "ours / SPAMS"),
        Target("Dictionary: fit time ≤ 0.2× scikit-learn", combine(s_ok),
               "; ".join(vs_sk) or "scikit-learn missing", "ours / scikit-learn"),
    ]
    for target in out:
        target.detail = f"{target.detail}; {verdict(target.met)}"
    return out

