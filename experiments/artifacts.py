"""What a run directory holds besides metrics: checkpoints, ``model.npz`` and the pictures."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparselearn.experiments.checkpoint import save_npz, save_state
from sparselearn.experiments.fingerprint import comparable_config, config_digest
from sparselearn.experiments.schema import ICA_KINDS, TOPOGRAPHIC_KINDS
from sparselearn.plotting import save_curves, save_filters

__all__ = ["dc_channels", "filters_from_params", "save_checkpoint", "save_model", "draw_filters",
           "draw_curves"]


def filters_from_params(params: Mapping[str, np.ndarray], kind: str, whitener: Any = None,
                        dc_channels: int | None = None) -> np.ndarray:
    """Learned bases in pixel space, one per row, from a state's ``params``.

    ICA kinds read ``W`` (``k × n``, filters as rows) and map them with
    ``whitener.filters_to_pixels``; sparse-coding kinds read ``A`` (``n × k``, bases as columns)
    and map them with ``whitener.bases_to_pixels``.

    Parameters
    ----------
    dc_channels : int, optional
        When the data had each patch's mean removed, the mean (DC) of a pixel-space filter acts
        on nothing: the whitener has an eigenvalue near 0 there and amplifies any trace of it,
        which would swamp the tile. With ``dc_channels`` set, that mean is removed from each
        row (per channel, channel-major), which leaves the action on the data unchanged.
    """
    if kind in ICA_KINDS:
        W = np.asarray(params["W"])
        out = np.asarray(whitener.filters_to_pixels(W)) if whitener is not None else W.copy()
    else:
        A = np.asarray(params["A"])
        out = np.asarray(whitener.bases_to_pixels(A)) if whitener is not None else A.T.copy()
    if dc_channels:
        k, n = out.shape
        planes = out.reshape(k, dc_channels, n // dc_channels)
        out = (planes - planes.mean(axis=2, keepdims=True)).reshape(k, n)
    return out


def dc_channels(config: Mapping[str, Any]) -> int | None:
    """Channels whose patch mean the config's normalisation removes (None: DC is kept)."""
    method = config["data"]["normalisation"]
    if method == "patch_mean":
        return 3 if config["data"]["colour"] else 1
    return 1 if method == "squash" else None


def save_checkpoint(path: str | os.PathLike, state_dict: Mapping[str, Any],
                    config: Mapping[str, Any], whitener: Any, status: str,
                    data_digest: str | None = None) -> None:
    """Write ``checkpoint.npz``: the trainer state, plus ``filters`` for pictures.

    Its metadata records the terms of the run, which a resume checks
    (:func:`experiments.runfiles.check_resume_state`): ``status``, ``iteration``, ``kind``,
    ``config`` (the resolved config without ``output``), ``config_digest`` and
    ``data_digest`` (of the training patches, :func:`experiments.fingerprint.data_digest`).
    """
    filters = filters_from_params(state_dict["params"], config["model"]["kind"], whitener,
                                  dc_channels(config))
    save_state(path, state_dict, extra={"filters": filters},
               meta={"status": status, "iteration": int(state_dict.get("iteration", 0)),
                     "kind": config["model"]["kind"], "config": comparable_config(config),
                     "config_digest": config_digest(config), "data_digest": data_digest})


def _whitener_arrays(whitener: Any) -> dict[str, np.ndarray]:
    """The whitener's saved state as arrays (through its own ``save``)."""
    if whitener is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "whitener.npz"
        whitener.save(path)
        with np.load(path, allow_pickle=False) as archive:
            return {f"preprocessing/{key}": archive[key] for key in archive.files}


def save_model(path: str | os.PathLike, config: Mapping[str, Any], model: Any,
               params: Mapping[str, np.ndarray], filters: np.ndarray, whitener: Any,
               config_text: str) -> None:
    """Write ``model.npz``.

    Keys: each learned parameter by name (``W`` or ``A``); ``components`` (the estimator's
    ``components_``); ``filters`` (bases in pixel space, one per row); ``patch_shape``,
    ``channels``, ``kind``, ``config`` (resolved YAML text); ``n_features_in``, ``n_samples``
    and ``dtype`` of the fit (what :func:`~sparselearn.load_run` needs); ``preprocessing/*``
    (the whitener's own saved state, loadable with ``patches.Whitener.load`` after stripping
    the prefix).
    """
    arrays: dict[str, Any] = {name: np.asarray(value) for name, value in params.items()}
    arrays.update({
        "components": np.asarray(model.components_),
        "filters": np.asarray(filters),
        "patch_shape": np.asarray(config["data"]["patch_size"]),
        "channels": np.asarray(3 if config["data"]["colour"] else 1),
        "kind": np.asarray(config["model"]["kind"]),
        "config": np.asarray(config_text),
        "n_features_in": np.asarray(model.n_features_in_),
        "n_samples": np.asarray(model._m),
        "dtype": np.asarray(np.dtype(model._dtype).name),
    })
    arrays.update(_whitener_arrays(whitener))
    save_npz(path, arrays)


def draw_filters(path: str | os.PathLike, filters: np.ndarray, config: Mapping[str, Any],
                 sort: str | None = None, title: str | None = None) -> Path:
    """The filter sheet of a run: torus order for topographic kinds unless ``sort`` is given."""
    kind = config["model"]["kind"]
    channels = 3 if config["data"]["colour"] else 1
    kwargs: dict[str, Any] = {}
    if sort is not None:
        kwargs["sort"] = sort
    elif kind in TOPOGRAPHIC_KINDS:
        kwargs.update(grid=tuple(config["model"]["grid"]), topographic=True)
    return save_filters(path, filters, tuple(config["data"]["patch_size"]), channels,
                        title=title, **kwargs)


def draw_curves(path: str | os.PathLike, metrics: str | os.PathLike | Mapping[str, np.ndarray],
                title: str | None = None) -> Path:
    """Training curves of a run from its ``metrics.csv`` (checked as
    :func:`experiments.runfiles.read_metrics_file` does), or from its columns."""
    if not isinstance(metrics, Mapping):
        from sparselearn.experiments.runfiles import read_metrics_file

        metrics = read_metrics_file(metrics)
    return save_curves(path, dict(metrics), title=title)
