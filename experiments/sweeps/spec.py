"""Sweep files: reading, expanding into runs, and validating every run before anything starts.

A sweep file is YAML::

    base: rica.yaml                 # config file, relative to this sweep file, or the name
                                    # of a shipped config (sparselearn configs) (required)
    name: ica-lambda                # optional; default the file's stem
    description: ...                # optional free text
    overrides:                      # optional; applied to every run
      trainer.max_iter: 60
    grid:                           # Cartesian product of lists (last key varies fastest)
      model.alpha: [0.05, 0.1, 0.3]
      model.n_components: [64, 128]
    points:                         # explicit override sets, run after the grid points
      - {model.alpha: 1.0, model.n_components: 32}
    seeds: 2                        # each point with seeds s0, s0+1 (s0: the base seed);
                                    # or a list of seeds such as [0, 7]
    evaluate:                       # optional: evaluate every finished run (in the worker,
      dataset: digits               # right after training); summary.csv gains "accuracy"
      baselines: none               # other keys: EVALUATE_KEYS (evaluate()'s options)

Keys are the dotted keys of the train command's overrides. A deprecated key (``model.lambda``)
is read under its new name (``model.alpha``) with a warning, so points, run names and the
summary use the new name. Every expanded run is loaded with
:func:`experiments.load_config` (base file + overrides), so it is checked exactly like
``sparselearn train CONFIG KEY=VALUE...``; errors name the sweep file, its line and the key.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sparselearn.experiments.config import leaf_field, load_config, parse_override, read_yaml
from sparselearn.experiments.errors import ConfigError
from sparselearn.experiments.schema import canonical_key, suggest
from sparselearn.experiments.sweeps.names import dedupe, plain_name, run_name, short_keys

__all__ = ["RunSpec", "SweepPlan", "load_sweep", "plan_sweep", "format_override",
           "SWEEP_KEYS", "EVALUATE_KEYS"]

#: Top-level keys of a sweep file.
SWEEP_KEYS = ("base", "name", "description", "overrides", "grid", "points", "seeds",
              "evaluate")
#: Keys of a sweep file's ``evaluate:`` mapping (options of
#: :func:`experiments.evaluation.evaluate`; ``dataset`` is required).
EVALUATE_KEYS = ("dataset", "encoder", "classifier", "stride", "alpha", "baselines",
                 "test_size", "seed", "cv", "baseline_patches")
_SCALARS = (bool, int, float, str, type(None))


@dataclass
class RunSpec:
    """One run of a sweep: a point (override set) with one seed.

    Attributes
    ----------
    index : int
        Position in the sweep (grid order, then explicit points; seeds innermost).
    name : str
        Run-directory name (see :mod:`experiments.sweeps.names`).
    point : dict
        The point's own overrides, dotted key → value (seed excluded).
    point_index : int
        Index of the point (runs of the same point differ only in the seed).
    seed : int
    overrides : list of str
        Every ``KEY=VALUE`` applied to the base config, in order.
    config : dict
        The resolved config of the run.
    """

    index: int
    name: str
    point: dict[str, Any]
    point_index: int
    seed: int
    overrides: list[str]
    config: dict[str, Any]


@dataclass
class SweepPlan:
    """An expanded, validated sweep: what :func:`experiments.sweeps.run_sweep` executes.

    Attributes
    ----------
    name, source, base : str
        Sweep name, sweep file and base config (absolute paths).
    grid : dict of str to list
    points : list of dict
    seeds : list of int
    fixed : list of str
        ``KEY=VALUE`` overrides applied to every run (the file's ``overrides`` then the command
        line's).
    varied : list of str
        Dotted keys that differ between points, in grid order then first appearance.
    runs : list of RunSpec
    description : str
    evaluate : dict, optional
        Keyword options of :func:`experiments.evaluation.evaluate` (``dataset`` included) for
        every finished run; None: runs are not evaluated.
    """

    name: str
    source: str
    base: str
    grid: dict[str, list[Any]]
    points: list[dict[str, Any]]
    seeds: list[int]
    fixed: list[str]
    varied: list[str]
    runs: list[RunSpec] = field(default_factory=list)
    description: str = ""
    evaluate: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``plan.json`` of a sweep directory)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepPlan:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        runs = [RunSpec(**run) for run in data.pop("runs", [])]
        return cls(**data, runs=runs)

    @property
    def n_points(self) -> int:
        """Number of distinct override sets."""
        return len({run.point_index for run in self.runs})


def format_override(key: str, value: Any) -> str:
    """``KEY=VALUE`` text that :func:`experiments.config.parse_override` reads back as ``value``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def _beside(source: Path, text: str) -> Path:
    """``text`` as a path (``~`` expanded), relative ones taken from the sweep file's folder."""
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else source.parent / path


def _origin(origins: Mapping[str, str], path: str, default: str) -> str:
    return origins.get(path, default)


def _check_key(key: Any, where: str, origin: str) -> str:
    """A dotted config key that overrides may set (not a section, not unknown).

    Returns the key under its current name (a deprecated one warns, see
    :func:`experiments.schema.canonical_key`).
    """
    if not isinstance(key, str):
        raise ConfigError(f"{origin}: {where}: expected dotted config keys such as "
                          f"model.alpha, found {key!r}")
    key = canonical_key(key, f"{origin}: {where}")
    leaf_field(key, f"{origin}: {where}")
    return key


def _canonical_mapping(node: Mapping[str, Any], where: str,
                       origin_of: Any) -> dict[str, tuple[str, Any]]:
    """Current key → (key as written, value) of a mapping of dotted keys (checked keys).

    Raises
    ------
    ConfigError
        When two keys name the same config key (a deprecated one and its replacement).
    """
    out: dict[str, tuple[str, Any]] = {}
    for key, value in node.items():
        origin = origin_of(key)
        label = f"{where}.{key}" if isinstance(key, str) else where
        current = _check_key(key, label, origin)
        if current in out:
            raise ConfigError(f"{origin}: {label}: {where}.{out[current][0]} sets the same key "
                              f"({current}; {key if key != current else out[current][0]} is "
                              f"its deprecated name): keep only {where}.{current}")
        out[current] = (key, value)
    return out


def _shipped_base(text: str, missing: Path, origin: str) -> Path:
    """The shipped training config that a ``base:`` naming no file means (``base: rica``)."""
    from sparselearn import configs

    entry = configs.find(text)
    if entry is not None and entry.kind == "train":
        return Path(os.path.abspath(entry.path))
    raise ConfigError(f"{origin}: base: config file not found: {missing} (nor is '{text}' the "
                      f"name of a shipped config: {', '.join(configs.names('train'))})")


def _check_value(value: Any, where: str, origin: str) -> Any:
    ok = isinstance(value, _SCALARS) or (isinstance(value, list)
                                         and all(isinstance(v, _SCALARS) for v in value))
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"{origin}: {where}: expected a scalar or a list of scalars, found "
                          f"{value!r} ({type(value).__name__})")
    return value


def _mapping(node: Any, where: str, origin: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"{origin}: {where}: expected a mapping of dotted keys to values, "
                          f"found {node!r} ({type(node).__name__})")
    return dict(node)


def _read_grid(raw: Any, origins: dict[str, str], default: str) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    node = _mapping(raw, "grid", _origin(origins, "grid", default))
    keys = _canonical_mapping(node, "grid",
                              lambda key: _origin(origins, f"grid.{key}", default))
    for current, (key, values) in keys.items():
        origin = _origin(origins, f"grid.{key}", default)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: grid.{key}: expected a non-empty list of values, found "
                              f"{values!r}")
        for value in values:
            _check_value(value, f"grid.{key}", origin)
        if current != key and f"grid.{key}" in origins:
            origins.setdefault(f"grid.{current}", origins[f"grid.{key}"])
        texts = [format_override(current, v) for v in values]
        if len(set(texts)) != len(texts):
            raise ConfigError(f"{origin}: grid.{key}: values repeat: {values!r}")
        grid[current] = list(values)
    return grid


def _read_points(raw: Any, origins: Mapping[str, str], default: str) -> list[dict[str, Any]]:
    origin = _origin(origins, "points", default)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: points: expected a list of override mappings, found "
                          f"{raw!r} ({type(raw).__name__})")
    points = []
    for number, node in enumerate(raw, start=1):
        where = f"points[{number}]"
        keys = _canonical_mapping(_mapping(node, where, origin), where, lambda key: origin)
        point = {}
        for current, (key, value) in keys.items():
            _check_value(value, f"{where}.{key}", origin)
            point[current] = value
        points.append(point)
    return points


def _read_seeds(raw: Any, origin: str, base_seed: int) -> list[int]:
    if raw is None:
        return [base_seed]
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise ConfigError(f"{origin}: seeds: expected a count >= 1 or a list of seeds, found "
                              f"{raw!r}")
        return [base_seed + i for i in range(raw)]
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool)
                                             and s >= 0 for s in raw):
        if len(set(raw)) != len(raw):
            raise ConfigError(f"{origin}: seeds: seeds repeat: {raw!r}")
        return list(raw)
    raise ConfigError(f"{origin}: seeds: expected a count >= 1 or a non-empty list of "
                      f"integers >= 0, found {raw!r}")


def _read_evaluate(raw: Any, origins: Mapping[str, str], default: str, source: Path,
                   configs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``evaluate:`` mapping, checked (and completed with ``baselines: none``)."""
    from sparselearn.experiments.evaluation import datasets as ds
    from sparselearn.experiments.evaluation.runner import CLASSIFIERS, ENCODERS, parse_baselines

    origin = _origin(origins, "evaluate", default)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: evaluate: expected a mapping such as {{dataset: digits}} "
                          f"(keys: {', '.join(EVALUATE_KEYS)}), found {raw!r}")
    for key in raw:
        if key not in EVALUATE_KEYS:
            raise ConfigError(f"{_origin(origins, f'evaluate.{key}', origin)}: evaluate.{key}: "
                              f"unknown evaluate key '{key}'"
                              + suggest(str(key), list(EVALUATE_KEYS))
                              + f" (known keys: {', '.join(EVALUATE_KEYS)})")
    options: dict[str, Any] = {"baselines": "none", **raw}

    def where(key: str) -> str:
        return f"{_origin(origins, f'evaluate.{key}', origin)}: evaluate.{key}"

    dataset = options.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise ConfigError(f"{origin}: evaluate.dataset: required, expected one of "
                          f"{', '.join(ds.DATASETS)} or a folder with one subfolder per class")
    folder = _beside(source, dataset)
    key = ds._ALIASES.get(dataset.lower(), dataset.lower())
    if folder.is_dir():
        options["dataset"] = str(Path(os.path.abspath(folder)))
    elif key not in ds.DATASETS:
        raise ConfigError(f"{where('dataset')}: unknown dataset '{dataset}'; expected one of "
                          f"{', '.join(ds.DATASETS)} or a folder with one subfolder per class")
    for name, allowed in (("encoder", ENCODERS), ("classifier", CLASSIFIERS)):
        if name in options and options[name] not in allowed:
            raise ConfigError(f"{where(name)}: expected one of {', '.join(allowed)}, found "
                              f"{options[name]!r}")
    for name, low in (("stride", 1), ("seed", 0), ("cv", 2), ("baseline_patches", 1)):
        value = options.get(name, low)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{where(name)}: expected an integer >= {low}, found {value!r}")
    for name in ("alpha", "test_size"):
        value = options.get(name, 0.5)
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where(name)}: expected a number >= 0, found {value!r}")
    if not 0 < options.get("test_size", 0.25) < 1:
        raise ConfigError(f"{where('test_size')}: expected a fraction in (0, 1), found "
                          f"{options['test_size']!r}")
    baselines = options["baselines"]
    if isinstance(baselines, list):
        baselines = ",".join(str(b) for b in baselines)
    if not isinstance(baselines, str):
        raise ConfigError(f"{where('baselines')}: expected 'all', 'none' or a comma list, "
                          f"found {baselines!r}")
    try:
        parse_baselines(baselines)
    except ConfigError as exc:
        raise ConfigError(f"{where('baselines')}: {exc}") from None
    options["baselines"] = baselines
    if any(config["data"]["colour"] for config in configs):
        raise ConfigError(f"{origin}: evaluate: the evaluation datasets are grey; runs with "
                          f"data.colour: true cannot be evaluated")
    return options


def _override_keys(overrides: Iterable[str]) -> list[str]:
    return [parse_override(text)[0] for text in overrides]


def plan_sweep(raw: Mapping[str, Any], source: str | os.PathLike,
               cli_overrides: Sequence[str] = (),
               origins: Mapping[str, str] | None = None) -> SweepPlan:
    """Expand and validate a sweep given as a mapping (as read from ``source``).

    Parameters
    ----------
    raw : mapping
        The sweep file's contents.
    source : path
        The sweep file (``base`` is relative to its folder; messages name it).
    cli_overrides : sequence of str
        ``KEY=VALUE`` overrides for every run (e.g. from the command line); they may not set a
        key that the sweep varies.
    origins : mapping, optional
        Dotted path → ``file:line`` (from :func:`experiments.config.read_yaml`).

    Returns
    -------
    SweepPlan

    Raises
    ------
    ConfigError
        Unknown or malformed sweep keys, an unknown config key in ``grid``, ``points`` or
        ``overrides`` (named, with a suggestion), a key both fixed and varied, or any run whose
        config does not validate (the run and the offending key are named).
    """
    source = Path(source)
    origins = dict(origins or {})
    default = str(source)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping with keys {', '.join(SWEEP_KEYS)}")
    for key in raw:
        if key not in SWEEP_KEYS:
            raise ConfigError(f"{_origin(origins, str(key), default)}: unknown sweep key "
                              f"'{key}'" + suggest(str(key), list(SWEEP_KEYS))
                              + f" (known keys: {', '.join(SWEEP_KEYS)})")
    sweep_name = str(raw.get("name") or source.stem)
    if not plain_name(sweep_name):
        raise ConfigError(f"{_origin(origins, 'name', default)}: name: expected a plain name "
                          f"(the sweep directory is <output.root>/<name>-<timestamp>: no '/' "
                          f"or '\\', not '.' or '..'), found {sweep_name!r}")
    base_text = raw.get("base")
    if not isinstance(base_text, str) or not base_text:
        raise ConfigError(f"{_origin(origins, 'base', default)}: base: required, expected the "
                          f"path of a config file relative to the sweep file")
    base = Path(os.path.abspath(_beside(source, base_text)))
    if not base.is_file():
        base = _shipped_base(base_text, base, _origin(origins, "base", default))

    fixed_keys = _canonical_mapping(
        _mapping(raw.get("overrides"), "overrides", _origin(origins, "overrides", default)),
        "overrides", lambda key: _origin(origins, f"overrides.{key}", default))
    fixed_map: dict[str, Any] = {}
    written: dict[str, str] = {}  # current key -> as written in the file, for messages
    for current, (key, value) in fixed_keys.items():
        _check_value(value, f"overrides.{key}", _origin(origins, f"overrides.{key}", default))
        fixed_map[current] = value
        written[current] = key
    grid = _read_grid(raw.get("grid"), origins, default)
    points = _read_points(raw.get("points"), origins, default)
    cli_keys = _override_keys(cli_overrides)
    # command-line overrides under the current key names, so that no run warns again
    cli_fixed = [f"{key}={text.partition('=')[2]}"
                 for text, key in zip(cli_overrides, cli_keys, strict=True)]
    fixed = [format_override(k, v) for k, v in fixed_map.items()] + cli_fixed

    varied: list[str] = list(grid)
    for point in points:
        varied += [key for key in point if key not in varied]
    for text, key in zip(cli_overrides, cli_keys, strict=True):
        if key in varied:
            raise ConfigError(f"override '{text}': '{key}' is varied by the sweep {source}; "
                              f"remove it from the command line or from the sweep")
    for key in fixed_map:
        if key in varied:
            raise ConfigError(f"{_origin(origins, f'overrides.{written[key]}', default)}: "
                              f"overrides.{written[key]}: the key is also varied by grid or "
                              f"points")

    try:
        base_config = load_config(base, fixed)
    except ConfigError as exc:
        raise ConfigError(f"{source}: base config with the sweep's overrides: {exc}") from None
    seeds_origin = _origin(origins, "seeds", default)
    seeds = _read_seeds(raw.get("seeds"), seeds_origin, int(base_config["seed"]))
    if "seed" in varied and raw.get("seeds") is not None:
        raise ConfigError(f"{seeds_origin}: seeds: cannot be combined with 'seed' in grid or "
                          f"points; vary one or the other")
    seed_list: list[int | None] = [None] if "seed" in varied else list(seeds)

    point_list = [dict(zip(grid, combo, strict=True))
                  for combo in itertools.product(*grid.values())] if grid else []
    point_list += points
    if not point_list:
        point_list = [{}]
    short = short_keys(varied)
    pairs = [(p_index, point, seed) for p_index, point in enumerate(point_list)
             for seed in seed_list]
    names = dedupe([run_name(point, seed, short) for _, point, seed in pairs],
                   [point for _, point, _ in pairs], [seed for _, _, seed in pairs])

    runs: list[RunSpec] = []
    seen: dict[str, int] = {}
    for index, ((p_index, point, seed), name) in enumerate(zip(pairs, names, strict=True)):
        overrides = fixed + [format_override(k, v) for k, v in point.items()]
        if seed is not None:
            overrides.append(f"seed={seed}")
        try:
            config = load_config(base, overrides)
        except ConfigError as exc:
            where = _point_origin(point, p_index, len(point_list) - len(points), origins,
                                  default, str(exc))
            raise ConfigError(f"{where}: run '{name}' does not validate: {exc}") from None
        if name in seen:
            raise ConfigError(f"{default}: run '{name}' repeats run {seen[name] + 1} (same "
                              f"overrides and seed)")
        seen[name] = index
        runs.append(RunSpec(index, name, dict(point), p_index,
                            int(config["seed"]), overrides, config))
    evaluation = _read_evaluate(raw.get("evaluate"), origins, default, source,
                                [run.config for run in runs])
    return SweepPlan(
        name=sweep_name, source=str(Path(os.path.abspath(source))),
        base=str(base), grid=grid, points=points, seeds=[int(r.config["seed"]) for r in runs
                                                         if r.point_index == 0],
        fixed=fixed, varied=varied, runs=runs,
        description=str(raw.get("description") or "").strip(), evaluate=evaluation)


def _point_origin(point: Mapping[str, Any], p_index: int, n_grid: int,
                  origins: Mapping[str, str], default: str, message: str = "") -> str:
    """``file:line`` of a point: its ``points`` entry, or the grid line of the key named in
    ``message`` (else of its first key)."""
    if p_index >= n_grid:
        return f"{_origin(origins, 'points', default)} (points[{p_index - n_grid + 1}])"
    keys = sorted(point, key=lambda key: f"'{key}=" not in message and f" {key}:" not in message)
    for key in keys:
        if f"grid.{key}" in origins:
            return origins[f"grid.{key}"]
    return default


def load_sweep(path: str | os.PathLike, cli_overrides: Sequence[str] = ()) -> SweepPlan:
    """Read a sweep file, expand it and validate every run (see :func:`plan_sweep`).

    Raises
    ------
    ConfigError
        Missing or malformed file (with the line), or any check of :func:`plan_sweep`.
    """
    raw, origins = read_yaml(path)
    return plan_sweep(raw, path, cli_overrides, origins)
