"""The config schema: one declarative table describing every key.

Each leaf is a :class:`Field` (type, default, range or choices, which model kinds use it, the
estimator argument it feeds, and a doc line). :func:`validate` checks a raw nested dict against
the table and returns a complete one with defaults filled in; every error names the source, the
dotted key path, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparselearn.experiments.errors import ConfigError
from sparselearn.plotting.tiles import SORT_KEYS
from sparselearn.trainers.kinds import KINDS, bases_as_rows, kinds_accepting

__all__ = ["Field", "SCHEMA", "MODEL_KINDS", "TOPOGRAPHIC_KINDS", "ICA_KINDS",
           "SPARSE_CODING_KINDS", "DEPRECATED_KEYS", "ConfigDeprecationWarning", "canonical_key",
           "rename_deprecated", "validate", "iter_fields", "field_at", "describe"]

#: The kinds (:data:`trainers.kinds.KINDS`), and groups of them asked of their classes.
MODEL_KINDS = tuple(KINDS)
ICA_KINDS = tuple(kind for kind in KINDS if bases_as_rows(kind))
SPARSE_CODING_KINDS = kinds_accepting("s_solver")
TOPOGRAPHIC_KINDS = kinds_accepting("grid")
#: Deprecated dotted keys → the key that replaced them (same value, same meaning). They are
#: still accepted in config files, overrides and sweep files, with a
#: :class:`ConfigDeprecationWarning` naming where they were found; an old key and its new one
#: given together are an error. Each pair shares its section.
DEPRECATED_KEYS: dict[str, str] = {"model.lambda": "model.alpha"}


class ConfigDeprecationWarning(DeprecationWarning):
    """A config, override or sweep file uses a deprecated key (see :data:`DEPRECATED_KEYS`).

    The key to change is in the user's own file, so the warning is issued as coming from
    ``__main__`` (at the file and line of the key when known): Python's default filters then
    show it, once per message, like a deprecation triggered by the user's own script, and
    ``-W`` options or ``warnings`` filters on this category or on ``DeprecationWarning`` still
    apply.
    """


#: ``__warningregistry__`` of :func:`canonical_key`: each message is shown once (per filter
#: state) even when a sweep loads the same base file for every run.
_WARNING_REGISTRY: dict = {}
_FILE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::|$)")

_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "int_pair": "an integer or a list of two integers",
    "number": "a number",
    "penalty": "a penalty name, a mapping {name: ..., <parameter>: ...} or a layer table "
               "{input: y, layers: [...]}",
}


@dataclass(frozen=True)
class Field:
    """One config key.

    Parameters
    ----------
    type : {"int", "float", "bool", "str", "int_pair", "number", "penalty"}
        ``float`` accepts integers and numeric strings such as ``1e-4`` (which YAML reads as a
        string); ``int_pair`` accepts ``8`` or ``[8, 12]`` and normalises to a list of two;
        ``penalty`` accepts what the estimators' ``penalty=`` accepts as plain data (checked by
        building it: :func:`trainers.parts.build_penalty`).
    default : object
        Value when absent. ``None`` on a field with ``estimator_arg`` means "the estimator's own
        default", filled in by :func:`experiments.config.resolve_config` so that it is visible.
    doc : str
        One line for ``--print-config`` and the docs.
    choices : tuple, optional
    low, high : float, optional
        Inclusive bounds, unless ``low_open``/``high_open``.
    nullable : bool
        Whether ``null`` is allowed.
    kinds : tuple of str, optional
        Model kinds that use this key (``None``: all). Setting it for another kind is an error.
    estimator_arg : str or mapping of kind to str, optional
        Keyword argument of the estimator constructor this key feeds: one name for every kind
        (the estimators use one name per role), or a mapping for a key that feeds only some of
        the kinds it is valid for (``model.n_components``: not the topographic ones, whose
        size is ``model.grid``).
    estimator_values : mapping, optional
        Config value → estimator value, for values the estimator spells differently (e.g.
        ``{"none": None}``); values not listed are passed unchanged (see :meth:`to_estimator`).
    """

    type: str
    default: Any
    doc: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    kinds: tuple[str, ...] | None = None
    estimator_arg: str | Mapping[str, str] | None = None
    required: bool = False
    estimator_values: Mapping[Any, Any] | None = None

    def arg_for(self, kind: str) -> str | None:
        """The estimator argument this key feeds for model kind ``kind`` (None: none)."""
        if self.kinds is not None and kind not in self.kinds:
            return None
        if isinstance(self.estimator_arg, Mapping):
            return self.estimator_arg.get(kind)
        return self.estimator_arg

    def to_estimator(self, value: Any) -> Any:
        """The estimator argument for config ``value`` (lists become tuples)."""
        if self.estimator_values is not None and not isinstance(value, list) \
                and value in self.estimator_values:
            return self.estimator_values[value]
        return tuple(value) if isinstance(value, list) else value

    def expected(self) -> str:
        """Human description of the accepted values."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = _TYPE_NAMES[self.type]
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
            if self.high is not None:
                bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
            if bounds:
                text += " " + " and ".join(bounds)
        return text + (" or null" if self.nullable else "")


def _f(type_: str, default: Any, doc: str, **kw: Any) -> Field:
    """A field; one feeding a single estimator argument applies to the kinds whose estimator
    takes that argument (asked of the classes, :func:`trainers.kinds.kinds_accepting`)."""
    arg = kw.get("estimator_arg")
    if isinstance(arg, str) and "kinds" not in kw:
        kinds = kinds_accepting(arg)
        kw["kinds"] = None if kinds == MODEL_KINDS else kinds
    return Field(type_, default, doc, **kw)


_POS_INT = {"low": 1}
_NONNEG = {"low": 0.0}
_POS = {"low": 0.0, "low_open": True}

#: The schema. Sections are dicts; leaves are Fields.
SCHEMA: dict[str, Any] = {
    "seed": _f("int", 0, "seed of every random draw (patch positions, initialisation, batches)",
               low=0),
    "data": {
        "source": _f("str", "natural",
                     "'natural' (photographs embedded with the install) or a path: a folder of "
                     "images, a .mat file or a .npy file"),
        "layout": _f("str", "auto",
                     "how an array source (.npy/.mat/.npz) is read: auto, a patches matrix "
                     "(one patch per column or per row) or image stacks",
                     choices=("auto", "patches", "patches_rows", "image", "images",
                              "images_last")),
        "variable": _f("str", None, "variable name inside a .mat file (default: the only one)",
                       nullable=True),
        "patch_size": _f("int_pair", [8, 8], "patch height and width in pixels (8 or [8, 12])",
                         low=1),
        "count": _f("int", 20000, "number of patches sampled", **_POS_INT),
        "colour": _f("bool", False, "RGB patches (channel-major) instead of grey"),
        "share": _f("str", "equal", "patches per image: the same number, or by image area",
                    choices=("equal", "area")),
        "normalisation": _f("str", "patch_mean",
                            "per-patch mean removal, per-pixel mean removal, UFLDL's squash "
                            "(±3 std → [0.1, 0.9]) or none",
                            choices=("patch_mean", "pixel_mean", "squash", "none")),
        "dtype": _f("str", "float64", "floating point type of data and parameters",
                    choices=("float64", "float32")),
        "whitening": {
            "method": _f("str", "zca", "whitening before training",
                         choices=("zca", "pca", "none")),
            "epsilon": _f("float", 0.01, "regulariser added to the covariance eigenvalues",
                          **_NONNEG),
            "n_components": _f("number", None,
                               "PCA only: components kept (integer) or fraction of variance "
                               "(0 < f <= 1)", nullable=True, low=0.0, low_open=True),
        },
    },
    "model": {
        "kind": _f("str", None, "which model to learn", choices=MODEL_KINDS, required=True),
        "n_components": _f("int", 64, "number of bases / filters (features); topographic "
                           "kinds: rows*cols of model.grid, derived from it (give only the "
                           "grid)", **_POS_INT,
                           estimator_arg={kind: "n_components" for kind in MODEL_KINDS
                                          if kind not in TOPOGRAPHIC_KINDS}),
        "alpha": _f("float", None, "weight of the sparsity term, α (null: estimator default); "
                    "for dictionary it is the lasso α of ½‖x − As‖² + α‖s‖₁ per example, "
                    "the α of scikit-learn and SPAMS; model.lambda is its deprecated name",
                    nullable=True, **_NONNEG, estimator_arg="alpha"),
        "epsilon": _f("float", None, "smoothing inside √(· + ε) (null: estimator default)",
                      nullable=True, **_POS, estimator_arg="epsilon"),
        "penalty": _f("penalty", None,
                      "sparsity penalty φ of the pooled energies: smoothed_l1 (√(u + ε), with "
                      "model.epsilon), cauchy, a registered name, {name: ..., <parameter>: ...}, "
                      "or a layer table {input: y, layers: [...]} (V: the torus of model.grid "
                      "and model.pool) (null: smoothed_l1)",
                      nullable=True, estimator_arg="penalty"),
        "forget_rate": _f("float", None,
                          "forgetting exponent ρ of the online statistics, β_t = (1 − 1/t)^ρ "
                          "(null: estimator default)", nullable=True, **_NONNEG,
                          estimator_arg="forget_rate"),
        "row_norm": _f("str", "unit",
                       "cost evaluated at the filters scaled to unit rows (unit) or at W as "
                       "it is (none: overcomplete filters can shrink to zero)",
                       choices=("unit", "none"), estimator_arg="row_norm",
                       estimator_values={"none": None}),
        "gamma": _f("float", None, "weight decay on the basis A (null: estimator default)",
                    nullable=True, **_NONNEG, estimator_arg="gamma"),
        "constraint": _f("str", None,
                         "how the scale of A is fixed: UFLDL weight decay or unit-norm atoms "
                         "(null: estimator default)",
                         nullable=True, choices=("weight_decay", "unit_norm"),
                         estimator_arg="constraint"),
        "grid": _f("int_pair", None,
                   "torus rows and columns; sets the number of components, rows*cols "
                   "(null: the square torus of model.n_components)",
                   nullable=True, low=1, estimator_arg="grid"),
        "pool": _f("int", 3, "neighbourhood size on the torus (pool x pool)", **_POS_INT,
                   estimator_arg="pool"),
        "wrap": _f("bool", True, "neighbourhoods wrap around the grid (a torus)",
                   estimator_arg="wrap"),
        "init": _f("str", None, "initial atoms: random data patches or Gaussian noise "
                   "(null: estimator default)", nullable=True, choices=("data", "random"),
                   estimator_arg="init"),
    },
    "trainer": {
        "max_iter": _f("int", None, "outer iterations (null: estimator default)",
                       nullable=True, **_POS_INT, estimator_arg="max_iter"),
        "batch_size": _f("int", None, "patches per mini-batch, re-drawn each outer iteration",
                         nullable=True, **_POS_INT, estimator_arg="batch_size"),
        "inner_iter": _f("int", None,
                         "iterations of the inner solver per outer iteration: W-steps (ICA "
                         "kinds), s-step iterations (sparse coding) or lasso iterations per batch "
                         "(dictionary); null: estimator default",
                         nullable=True, **_POS_INT, estimator_arg="inner_iter"),
        "solver": _f("str", None, "s-step solver (A-step is closed form; null: estimator "
                     "default)", nullable=True, choices=("accelerated", "lbfgs", "cg"),
                     estimator_arg="s_solver"),
        "step_size": _f("float", None, "initial step of the projected-gradient line search "
                        "(null: estimator default)", nullable=True, **_POS,
                        estimator_arg="step_size"),
        "lbfgs_memory": _f("int", None, "correction pairs the L-BFGS keeps across outer "
                           "iterations (null: estimator default)", nullable=True, **_POS_INT,
                           estimator_arg="lbfgs_memory"),
        "tol": _f("float", None, "stopping tolerance (null: estimator default)",
                  nullable=True, **_NONNEG, estimator_arg="tol"),
        "checkpoint_every": _f("int", 25, "write checkpoint.npz every N outer iterations",
                               **_POS_INT),
    },
    "output": {
        "root": _f("str", "runs", "folder that receives run directories"),
        "sort": _f("str", None,
                   "order of the tiles in filters.png: a statistic to sort by, largest first "
                   "(orientation: by angle); null keeps the model order (the torus for "
                   "topographic kinds)", nullable=True,
                   choices=SORT_KEYS),
        "name": _f("str", None,
                   "run directory name under root (null: <kind>-<UTC timestamp>)",
                   nullable=True),
    },
}


def iter_fields(schema: Mapping[str, Any] = SCHEMA, prefix: str = ""):
    """Yield ``(dotted_path, Field)`` for every leaf of the schema."""
    for key, node in schema.items():
        path = f"{prefix}{key}"
        if isinstance(node, Field):
            yield path, node
        else:
            yield from iter_fields(node, path + ".")


def field_at(path: str) -> Field | dict | None:
    """The schema node at a dotted path, or None when there is none."""
    node: Any = SCHEMA
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def describe(path: str) -> str:
    """``dotted.path: expected`` line for docs."""
    node = field_at(path)
    return f"{path}: {node.expected()}" if isinstance(node, Field) else path


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _found(value: Any) -> str:
    return f"{value!r} ({_type_name(value)})"


def suggest(key: str, candidates: list[str], prefix: str = "") -> str:
    """``; did you mean 'prefix.x'?`` for the closest candidate, or an empty string.

    Deprecated keys under ``prefix`` (:data:`DEPRECATED_KEYS`) count as candidates too, and a
    near miss of one suggests the key that replaced it (``model.lamda`` → ``model.alpha``).
    """
    dotted = any("." in candidate for candidate in candidates)
    aliases = {old[len(prefix):]: new[len(prefix):] for old, new in DEPRECATED_KEYS.items()
               if old.startswith(prefix) and ("." in old[len(prefix):]) == dotted}
    pool = list(candidates) + [old for old in aliases if old not in candidates]
    close = difflib.get_close_matches(key, pool, n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{aliases.get(close[0], close[0])}'?" if close else ""


def canonical_key(path: str, origin: str) -> str:
    """The current name of dotted key ``path``; a deprecated one warns and is translated.

    Parameters
    ----------
    path : str
        A dotted config key as written (``"model.lambda"``).
    origin : str
        Where it was found (``"configs/rica.yaml:30"``, ``"override 'model.lambda=0.1'"``), for
        the warning.

    Returns
    -------
    str
        ``path`` itself, or the key that replaced it (:data:`DEPRECATED_KEYS`).

    Warns
    -----
    ConfigDeprecationWarning
        When ``path`` is deprecated: names ``origin``, the old key and the one to use.
    """
    new = DEPRECATED_KEYS.get(path)
    if new is None:
        return path
    message = (f"{origin}: {path} is deprecated and will be removed; use {new} (same value, "
               f"same meaning)")
    place = _FILE_LINE.match(origin)
    if place is not None:  # the config file and line of the key
        filename, lineno = place["file"], int(place["line"])
    else:  # an override or a dict: the caller's line
        frame = sys._getframe(1)
        filename, lineno = frame.f_code.co_filename, frame.f_lineno
    warnings.warn_explicit(message, ConfigDeprecationWarning, filename, lineno,
                           module="__main__", registry=_WARNING_REGISTRY)
    return new


def rename_deprecated(raw: Any, origins: dict[str, str] | None = None,
                      default_origin: str = "config") -> Any:
    """``raw`` with every deprecated key (:data:`DEPRECATED_KEYS`) moved to its new name.

    Parameters
    ----------
    raw : mapping
        A nested config as read from YAML. Anything else is returned unchanged (for
        :func:`validate` to report).
    origins : dict, optional
        Dotted key → where it came from; updated in place so that the new key keeps the old
        key's origin.
    default_origin : str
        Origin of keys not in ``origins``.

    Returns
    -------
    mapping
        ``raw`` itself when nothing is deprecated, else a copy (the sections on the way copied,
        the rest shared).

    Raises
    ------
    ConfigError
        When a deprecated key and its replacement are both given (naming both).

    Warns
    -----
    ConfigDeprecationWarning
        For each deprecated key found, naming its origin and the key to use.
    """
    if not isinstance(raw, Mapping):
        return raw
    origins = {} if origins is None else origins
    out: Any = raw
    for old, new in DEPRECATED_KEYS.items():
        section_path, old_key = old.rsplit(".", 1)
        new_key = new.rsplit(".", 1)[1]
        section = _get(out, section_path)
        if not isinstance(section, Mapping) or old_key not in section:
            continue
        where = origins.get(old, default_origin)
        if new_key in section:
            other = origins.get(new)
            at = f" ({new} at {other})" if other is not None and other != where else ""
            raise ConfigError(f"{where}: {old} and {new} are both given{at}; {old} is the "
                              f"deprecated name of {new} (same value, same meaning): keep only "
                              f"{new}")
        canonical_key(old, where)
        renamed = {(new_key if key == old_key else key): value for key, value in section.items()}
        out = _replace(out, section_path.split("."), renamed)
        if old in origins:
            origins.setdefault(new, origins[old])
    return out


def _replace(node: Mapping[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``node`` with the value at path ``parts`` replaced (copies along the path)."""
    out = dict(node)
    out[parts[0]] = value if len(parts) == 1 else _replace(node[parts[0]], parts[1:], value)
    return out


def _check_value(field: Field, value: Any, path: str, origin: str) -> Any:
    def fail() -> ConfigError:
        return ConfigError(f"{origin}: {path}: expected {field.expected()}, "
                           f"found {_found(value)}")

    if value is None:
        if field.nullable:
            return None
        raise fail()
    kind = field.type
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail()
        out: Any = value
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise fail()
        out = int(value)
    elif kind in ("float", "number"):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise fail() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        if isinstance(value, float) and not math.isfinite(value):
            raise fail()
        out = float(value) if kind == "float" else value
    elif kind == "str":
        if not isinstance(value, str):
            raise fail()
        out = value
    elif kind == "penalty":
        from sparselearn.trainers.parts import build_penalty  # trainers import no experiments

        if not isinstance(value, (str, Mapping)):
            raise fail()
        try:
            build_penalty(value, 1e-2, "penalty")
        except ValueError as exc:
            message = str(exc).removeprefix("penalty: parameter 'penalty': ")
            raise ConfigError(f"{origin}: {path}: {message}") from None
        out = value
    elif kind == "int_pair":
        items = [value] * 2 if not isinstance(value, (list, tuple)) else list(value)
        if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
            raise fail()
        out = [int(v) for v in items]
    else:  # pragma: no cover - schema bug
        raise AssertionError(kind)

    if field.choices is not None and out not in field.choices:
        raise fail()
    numbers = out if isinstance(out, list) else [out]
    for number in numbers:
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        if field.low is not None and (number < field.low or (field.low_open
                                                             and number == field.low)):
            raise fail()
        if field.high is not None and (number > field.high or (field.high_open
                                                               and number == field.high)):
            raise fail()
    return out


def validate(raw: Mapping[str, Any], origins: Mapping[str, str] | None = None,
             default_origin: str = "config") -> dict[str, Any]:
    """Check ``raw`` against :data:`SCHEMA` and return a complete config with defaults.

    Parameters
    ----------
    raw : mapping
        Nested dict as read from YAML (and after overrides).
    origins : mapping, optional
        Dotted key path → where the value came from (``"configs/ica.yaml"`` or
        ``"override 'model.lambda=0.1'"``), for messages.
    default_origin : str
        Origin used for keys not listed in ``origins``.

    Returns
    -------
    dict
        Same nesting as :data:`SCHEMA`; keys the model kind does not use are left out.
        Deprecated keys (:data:`DEPRECATED_KEYS`) appear under their new names. For the
        topographic kinds ``model.n_components`` is ``None`` unless given: it is derived from
        ``model.grid`` by :func:`experiments.config.resolve_config`.

    Raises
    ------
    ConfigError
        Unknown key (with a near-miss suggestion), wrong type, out-of-range value, a required
        key missing, a key set that the chosen model kind does not use, or a deprecated key
        given together with its replacement.

    Warns
    -----
    ConfigDeprecationWarning
        For each deprecated key (see :func:`rename_deprecated`).
    """
    origins = dict(origins or {})
    raw = rename_deprecated(raw, origins, default_origin)

    def origin_of(path: str) -> str:
        return origins.get(path, default_origin)

    def walk(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> dict:
        if not isinstance(node, Mapping):
            where = prefix.rstrip(".") or "top level"
            raise ConfigError(f"{origin_of(prefix.rstrip('.'))}: {where}: expected a mapping "
                              f"of keys, found {_found(node)}")
        for key in node:
            if not isinstance(key, str) or key not in schema:
                path = f"{prefix}{key}"
                raise ConfigError(f"{origin_of(path)}: unknown key '{path}'"
                                  + suggest(str(key), list(schema), prefix)
                                  + f" (known keys here: {', '.join(schema)})")
        out: dict[str, Any] = {}
        for key, sub in schema.items():
            path = f"{prefix}{key}"
            if isinstance(sub, Field):
                if key in node:
                    out[key] = _check_value(sub, node[key], path, origin_of(path))
                elif sub.required:
                    raise ConfigError(f"{default_origin}: {path}: required, "
                                      f"expected {sub.expected()}")
                else:
                    out[key] = list(sub.default) if isinstance(sub.default, list) \
                        else sub.default
            else:
                out[key] = walk(node.get(key, {}) if node.get(key) is not None else {},
                                sub, path + ".")
        return out

    config = walk(raw, SCHEMA, "")
    kind = config["model"]["kind"]
    for path, field in iter_fields():
        if field.kinds is None or kind in field.kinds:
            continue
        section, key = path.rsplit(".", 1)
        explicit = _get(raw, path) is not None
        if explicit:
            raise ConfigError(f"{origin_of(path)}: {path}: not used by model.kind '{kind}' "
                              f"(used by {', '.join(field.kinds)}); remove it")
        _get(config, section).pop(key, None)
    if kind in TOPOGRAPHIC_KINDS and _get(raw, "model.n_components") is None:
        config["model"]["n_components"] = None  # rows*cols of model.grid, set on resolution
    return config


def _get(node: Mapping[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
