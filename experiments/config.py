"""Loading configs: YAML with line numbers, dotted overrides, schema validation, resolution.

The pipeline is ``read_yaml`` → ``apply_overrides`` → :func:`experiments.schema.validate` →
:func:`resolve_config` (cross-key checks, estimator defaults made explicit, data paths made
absolute). :func:`load_config` does all of it; :func:`format_config` writes the result back as
commented YAML (what ``--print-config`` shows and what a run directory keeps).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sparselearn.experiments.errors import ConfigError, DataError
from sparselearn.experiments.schema import (
    DEPRECATED_KEYS,
    ICA_KINDS,
    SCHEMA,
    TOPOGRAPHIC_KINDS,
    Field,
    canonical_key,
    field_at,
    iter_fields,
    rename_deprecated,
    suggest,
    validate,
)

__all__ = ["MAX_ALIAS_NODES", "parse_yaml", "read_yaml", "parse_override", "apply_overrides",
           "resolve_config", "load_config", "config_from_dict", "format_config", "n_features"]


#: Most nodes that YAML aliases (``*name``) may add once expanded. A config has a few hundred
#: nodes; nested aliases can stand for exponentially many ("billion laughs"), so their expanded
#: size is counted (in time linear in the file) before anything walks the expanded tree.
MAX_ALIAS_NODES = 10_000


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that remembers where each alias is used (for messages)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.alias_lines: list[tuple[int, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self.alias_lines.append((event.start_mark.line + 1, event.anchor))
        return super().compose_node(parent, index)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: yaml.Node, path: Path, alias_lines: list[tuple[int, str]]) -> int:
    """Nodes of the tree with every alias expanded, counted once per distinct node.

    Raises
    ------
    ConfigError
        A recursive alias (an anchor used inside itself).
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: no recursion limit on deep files
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in active:
            line, anchor = alias_lines[0] if alias_lines else (node.start_mark.line + 1, "?")
            raise ConfigError(f"{path}:{line}: recursive YAML alias *{anchor} (an anchor used "
                              f"inside itself); write the values out")
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise ConfigError(f"{path}:{child.start_mark.line + 1}: recursive YAML alias "
                                  f"(an anchor used inside itself); write the values out")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _line_map(node: yaml.Node, path: Path) -> dict[str, int]:
    """Dotted key path → 1-based line of its key; duplicate keys are an error.

    Walks the expanded tree, so call it only once :func:`_expanded_size` has bounded it.
    """
    lines: dict[str, int] = {}
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    while stack:
        node, prefix = stack.pop()
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if isinstance(key_node, yaml.ScalarNode):
                first = seen.get((key_node.tag, key_node.value))
                if first is not None:
                    raise ConfigError(
                        f"{path}:{key_node.start_mark.line + 1}: duplicate key "
                        f"'{prefix}{key_node.value}': first at {_position(first, key_node)}, "
                        f"again at {_position(key_node, first)}; each key may appear once "
                        f"(YAML would silently keep the last)")
                seen[(key_node.tag, key_node.value)] = key_node
            dotted = f"{prefix}{key_node.value}"
            lines.setdefault(dotted, key_node.start_mark.line + 1)
            stack.append((value_node, dotted + "."))
    return lines


def _position(node: yaml.Node, other: yaml.Node) -> str:
    """``line N`` (with the column when ``other`` is on the same line)."""
    mark = node.start_mark
    column = f" column {mark.column + 1}" if other.start_mark.line == mark.line else ""
    return f"line {mark.line + 1}{column}"


def _yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    column = f" (column {mark.column + 1})" if mark is not None else ""
    return ConfigError(f"{where}: malformed YAML at line {mark.line + 1 if mark else '?'}"
                       f"{column}: {problem}")


def parse_yaml(text: str, path: str | os.PathLike) -> tuple[Any, dict[str, int]]:
    """Parse YAML text in time and memory bounded by its size.

    Aliases are expanded up to :data:`MAX_ALIAS_NODES` nodes; duplicate keys are an error.

    Parameters
    ----------
    text : str
    path : path-like
        Named in messages.

    Returns
    -------
    value : object
        The document (None when empty).
    lines : dict
        Dotted key path → 1-based line.

    Raises
    ------
    ConfigError
        Malformed YAML (with the line), aliases that expand too far or into themselves, a
        duplicate key (with both lines), or nesting too deep to parse.
    """
    path = Path(path)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{path}: YAML nested too deeply to read") from None
        except yaml.YAMLError as exc:
            raise _yaml_error(path, exc) from None
        if node is None:
            return None, {}
        distinct = len({id(n) for n in _walk_distinct(node)})
        expanded = _expanded_size(node, path, loader.alias_lines)
        if expanded - distinct > MAX_ALIAS_NODES:
            line, anchor = loader.alias_lines[0]
            raise ConfigError(
                f"{path}:{line}: YAML aliases expand to {expanded} nodes from {distinct} "
                f"written (the first is *{anchor} at line {line}); at most "
                f"{MAX_ALIAS_NODES} more are accepted: write the values out instead of "
                f"nesting aliases")
        lines = _line_map(node, path)
        try:
            value = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise _yaml_error(path, exc) from None
    finally:
        loader.dispose()
    return value, lines


def _walk_distinct(root: yaml.Node) -> list[yaml.Node]:
    """Every distinct node once (aliases not followed twice)."""
    seen: dict[int, yaml.Node] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(_children(node))
    return list(seen.values())


def read_yaml(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str]]:
    """Read a YAML config file (see :func:`parse_yaml`).

    Returns
    -------
    raw : dict
        The mapping as written (empty file → empty dict).
    origins : dict
        Dotted key path → ``"file:line"`` for error messages.

    Raises
    ------
    ConfigError
        File missing or unreadable, malformed YAML (with the line number), aliases that expand
        too far, a duplicate key, or a top level that is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    raw, lines = parse_yaml(text, path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, trainer, "
                          f"output, seed) at the top level, found {type(raw).__name__}")
    origins = {key: f"{path}:{line}" for key, line in lines.items()}
    return raw, origins


def leaf_field(key: str, origin: str) -> Field:
    """The schema field at a dotted key that can be set (not unknown, not a section).

    Raises
    ------
    ConfigError
        Naming ``origin`` and the key, with a near-miss suggestion or the section's first key.
    """
    node = field_at(key)
    if node is None:
        leaves = [path for path, _ in iter_fields()]
        raise ConfigError(f"{origin}: unknown key '{key}'" + suggest(key, leaves))
    if not isinstance(node, Field):
        raise ConfigError(f"{origin}: '{key}' is a section; set one of its keys, e.g. "
                          f"{key}.{next(iter(node))}")
    return node


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"trainer.max_iter=50"`` into ``("trainer.max_iter", 50)``.

    The value is parsed with ``yaml.safe_load`` (so ``0.1`` is a float, ``[8, 8]`` a list,
    ``null`` is None); its type is checked later against the schema. A deprecated key
    (``model.lambda``) is returned under its new name (``model.alpha``).

    Raises
    ------
    ConfigError
        No ``=``, an unknown key path (with a suggestion), a section instead of a key, or a value
        YAML cannot parse.

    Warns
    -----
    experiments.schema.ConfigDeprecationWarning
        For a deprecated key, naming the override and the key to use.
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    origin = f"override '{text}'"
    if not sep or not key:
        raise ConfigError(f"{origin}: expected KEY=VALUE with a dotted key such as "
                          f"trainer.max_iter=50")
    key = canonical_key(key, origin)
    leaf_field(key, origin)
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}: cannot parse value {value_text!r}: {problem}") from None
    return key, value


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str],
                    origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Return a copy of ``raw`` with every ``KEY=VALUE`` override applied (later wins)."""
    out = copy.deepcopy(dict(raw))
    overrides = list(overrides)
    given = {text.partition("=")[0].strip(): text for text in overrides}
    for old, new in DEPRECATED_KEYS.items():
        if old in given and new in given:
            raise ConfigError(f"overrides '{given[old]}' and '{given[new]}' set the same key: "
                              f"{old} is the deprecated name of {new}; give only {new}")
    for text in overrides:
        key, value = parse_override(text)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
        if origins is not None:
            origins[key] = f"override '{text}'"
    return out


def n_features(config: Mapping[str, Any]) -> int:
    """Length of one patch vector: height × width × channels."""
    height, width = config["data"]["patch_size"]
    return height * width * (3 if config["data"]["colour"] else 1)


def _estimator_defaults(kind: str) -> dict[str, Any] | None:
    """Constructor defaults of the estimator for ``kind`` (None when trainers are missing)."""
    try:
        from sparselearn.experiments.models import estimator_class
        cls = estimator_class(kind)
    except ImportError:
        return None
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}


def resolve_config(config: dict[str, Any], origins: Mapping[str, str] | None = None,
                   default_origin: str = "config", base_dir: str | os.PathLike | None = None,
                   check_paths: bool = True) -> dict[str, Any]:
    """Cross-key checks and explicit defaults on a validated config (modified in place).

    - ``data.source``: not empty; a path is made absolute (relative to ``base_dir``, default
      the working folder) and must exist.
    - Keys left ``null`` that feed an estimator argument take the estimator's default, so the
      resolved config shows every value actually used.
    - Topographic kinds: the torus sets the size. ``model.n_components`` becomes
      ``rows*cols`` of ``model.grid``; without a grid, the square torus of
      ``model.n_components`` (default 64) is used. Both given and disagreeing is an error
      naming both keys. The pool must fit on the torus.
    - Orthonormal ICA cannot have more filters than data dimensions; PCA cannot keep more
      components than there are pixels.

    Raises
    ------
    ConfigError, DataError
    """
    origins = dict(origins or {})

    def origin_of(path: str) -> str:
        return origins.get(path, default_origin)

    data, model, trainer = config["data"], config["model"], config["trainer"]
    kind = model["kind"]

    source = data["source"]
    if not str(source).strip():
        raise ConfigError(f"{origin_of('data.source')}: data.source: expected 'natural' or the "
                          f"path of an image, image folder, .mat, .npy or .npz file, found an "
                          f"empty string")
    if source != "natural":
        path = Path(os.path.expanduser(source))
        if not path.is_absolute():
            path = Path(base_dir or os.getcwd()) / path
        path = Path(os.path.abspath(path))
        if check_paths and not path.exists():
            raise DataError(f"{origin_of('data.source')}: data.source: file or folder not "
                            f"found: {path}")
        data["source"] = str(path)

    dims = n_features(config)
    whitening = data["whitening"]
    kept = whitening["n_components"]
    if kept is not None:
        if whitening["method"] != "pca":
            raise ConfigError(f"{origin_of('data.whitening.n_components')}: "
                              f"data.whitening.n_components: only used with method 'pca', "
                              f"found method {whitening['method']!r}")
        if isinstance(kept, float):
            if not 0 < kept <= 1:
                raise ConfigError(f"{origin_of('data.whitening.n_components')}: "
                                  f"data.whitening.n_components: expected an integer count or "
                                  f"a variance fraction in (0, 1], found {kept!r}")
        else:
            if kept > dims:
                raise ConfigError(f"{origin_of('data.whitening.n_components')}: "
                                  f"data.whitening.n_components: expected at most {dims} "
                                  f"(pixels per patch), found {kept}")
            dims = kept

    if kind in TOPOGRAPHIC_KINDS:
        k = model["n_components"]  # None: not given (see schema.validate)
        if model["grid"] is None:
            if k is None:
                k = SCHEMA["model"]["n_components"].default
            side = math.isqrt(k)
            if side * side != k:
                raise ConfigError(f"{origin_of('model.n_components')}: model.grid: needed for "
                                  f"kind '{kind}' when model.n_components ({k}) is not a "
                                  f"perfect square; expected [rows, cols] with rows*cols = {k}")
            model["grid"] = [side, side]
        rows, cols = model["grid"]
        if k is not None and rows * cols != k:
            raise ConfigError(f"{origin_of('model.grid')}: model.n_components and model.grid "
                              f"disagree: model.grid is {rows}x{cols}, rows*cols = "
                              f"{rows * cols} components, but model.n_components is {k} "
                              f"({origin_of('model.n_components')}); for kind '{kind}' give "
                              f"only model.grid, the number of components is rows*cols")
        model["n_components"] = rows * cols
        if model["pool"] > min(rows, cols):
            raise ConfigError(f"{origin_of('model.pool')}: model.pool: expected at most "
                              f"{min(rows, cols)} (the smaller side of the {rows}x{cols} "
                              f"torus), found {model['pool']}")
    if kind == "ica" and model["n_components"] > dims:
        raise ConfigError(f"{origin_of('model.n_components')}: model.n_components: orthonormal "
                          f"ICA needs at most {dims} filters (the data dimension), found "
                          f"{model['n_components']}; use kind 'rica' for overcomplete bases")
    if kind not in ICA_KINDS and trainer.get("batch_size") is not None \
            and trainer["batch_size"] > data["count"]:
        raise ConfigError(f"{origin_of('trainer.batch_size')}: trainer.batch_size: expected at "
                          f"most data.count ({data['count']}), found {trainer['batch_size']}")

    defaults = _estimator_defaults(kind)
    if defaults is not None:
        for path, field in iter_fields():
            arg = field.arg_for(kind)
            if arg is None:
                continue
            section, key = path.rsplit(".", 1)
            node = config[section]
            if key not in node:
                continue
            if arg not in defaults:
                raise ConfigError(f"{origin_of(path)}: {path}: the installed '{kind}' trainer "
                                  f"has no argument {arg!r}; this key cannot be used")
            if node[key] is None:
                value = defaults[arg]
                node[key] = list(value) if isinstance(value, tuple) else value
    return config


def config_from_dict(raw: Mapping[str, Any], overrides: Iterable[str] = (),
                     origin: str = "config", base_dir: str | os.PathLike | None = None,
                     origins: Mapping[str, str] | None = None,
                     check_paths: bool = True) -> dict[str, Any]:
    """Validate and resolve a config given as a dict (plus overrides).

    Deprecated keys of ``raw`` (``model.lambda``) are renamed, with a warning, before the
    overrides are applied, so an override of the new key (``model.alpha=...``) replaces them.
    """
    origins = dict(origins or {})
    raw = rename_deprecated(raw, origins, origin)
    raw = apply_overrides(raw, overrides, origins)
    config = validate(raw, origins, default_origin=origin)
    return resolve_config(config, origins, origin, base_dir, check_paths)


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read, override, validate and resolve a config file.

    Parameters
    ----------
    path : path-like
        YAML file.
    overrides : iterable of str
        ``KEY=VALUE`` strings with dotted keys, applied in order.

    Returns
    -------
    dict
        The fully resolved config.

    Raises
    ------
    ConfigError, DataError
        With the file (and line), dotted key path, expected and found values.
    """
    raw, origins = read_yaml(path)
    return config_from_dict(raw, overrides, origin=str(path), origins=origins)


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip() \
        .removesuffix("...").strip()


def format_config(config: Mapping[str, Any], header: str | None = None,
                  comments: bool = True) -> str:
    """The config as YAML, one key per line with its schema doc as a trailing comment."""
    lines: list[str] = []
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]

    def emit(node: Mapping[str, Any], schema: Mapping[str, Any], indent: str) -> None:
        for key, value in node.items():
            sub = schema.get(key) if isinstance(schema, Mapping) else None
            if isinstance(value, Mapping):
                lines.append(f"{indent}{key}:")
                emit(value, sub or {}, indent + "  ")
            else:
                text = f"{indent}{key}: {_scalar(value)}"
                if comments and isinstance(sub, Field):
                    text = f"{text:<40} # {sub.doc}"
                lines.append(text)

    if config.get("model", {}).get("kind") in TOPOGRAPHIC_KINDS:
        # the size of a torus is model.grid alone: leave n_components to be derived again, so
        # that the written config still takes a model.grid override
        config = {**config, "model": {key: value for key, value in config["model"].items()
                                      if key != "n_components"}}
    emit(config, SCHEMA, "")
    return "\n".join(lines) + "\n"
