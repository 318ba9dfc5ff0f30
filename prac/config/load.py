"""Configs from YAML files, ``--set`` overrides and plain data, checked field by field.

YAML is read with ``yaml.safe_load`` (no object construction); an unknown key (with the
nearest known one), a wrong type or a non-finite number is a one-line ``PracError``. The
dataclasses themselves live in ``prac.config.schema``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path

import yaml

from prac.config.schema import Config
from prac.errors import PracError


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value, tp, where: str):
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except PracError as e:
                if "finite" in str(e):  # the right type with a bad value: say that, not "wrong type"
                    raise
        names = " or ".join(_type_name(a) for a in args)
        raise PracError(f"{where}={value!r} has the wrong type; expected {names}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise PracError(f"{where}={value!r} has the wrong type; expected a list, e.g. [300, 100]")
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; every user means the number
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # YAML reads .nan and .inf; they would only fail later, deep in training
                raise PracError(f"{where}={value} is not a finite number; give an ordinary number, e.g. 0.1")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise PracError(f"{where}={value!r} has the wrong type; expected {_type_name(tp)}")


_FLOAT_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


# Keys removed with the search policies and selectors (docs/reference.md): what replaced each.
_POLICY = "it is a constant of the search policy now (prune.search)"
_GONE = "it was measured and not adopted; drop it"
REMOVED = {**{f"prune.{k}": _GONE for k in ("search_pace", "search_cap", "late_rewind", "late_budget", "partial_rewind",
                                             "distill", "early_bird", "eb_eps", "eb_patience")},
           **{f"prune.{k}": _POLICY for k in ("search_extend", "search_plateau", "search_weight_decay", "search_reach",
                                               "criterion", "search_lr", "search_schedule", "search_epochs")},
           **{f"select.{k}": _POLICY for k in ("size", "scale_epochs", "reprobe", "probe_fraction")},
           "select.subset": "use select.method (prac, random or full)", "select.dense_fraction": _GONE,
           "train.gamma": "the step schedule divides the lr by 10 at each milestone", "train.channels_last": "it is on "
           "for images on CUDA", "dataset.name": "give the hub name as dataset.path",
           "dataset.cache_dir": "set HF_DATASETS_CACHE"}


def _build(cls, data, prefix: str = ""):
    if not isinstance(data, dict):
        name = prefix.rstrip(".") or "top level"
        raise PracError(f"config section '{name}' must be a mapping of keys to values, not {data!r:.40}; "
                        f"set one of its keys instead, e.g. --set {prefix or ''}KEY=VALUE")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known and where in REMOVED:
            raise PracError(f"{where} was removed in prac 0.2; {REMOVED[where]} (docs/reference.md, 'Keys removed')")
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)  # a typo is the usual cause
            hint = f"did you mean '{prefix}{near[0]}'? " if near else ""
            raise PracError(f"unknown config key '{where}'; {hint}known keys here: {', '.join(known)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{where}.")
        else:
            kwargs[key] = _coerce(value, tp, where)
    return cls(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """``'train.lr=0.1'`` -> ``{'train': {'lr': 0.1}}``; the value is parsed as YAML (safely)."""
    if "=" not in text:
        raise PracError(f"--set '{text}' is not of the form key=value; write e.g. --set train.lr=0.01")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return nested(key, value, f"--set '{text}'")


def nested(key: str, value, where: str = "") -> dict:
    """``('train.lr', 0.1)`` -> ``{'train': {'lr': 0.1}}``: one dotted key as a config tree."""
    parts = [p for p in str(key).strip().split(".") if p]
    if not parts:
        raise PracError(f"{where or repr(key)} has an empty key; use e.g. train.lr=0.01")
    tree: dict = value
    for p in reversed(parts):
        tree = {p: tree}
    return tree


def read_yaml(path: str | Path) -> dict:
    """A YAML file that holds a mapping, read safely (no object construction)."""
    p = config_path(path)
    if p.is_dir():
        raise PracError(f"config file {p} is a directory; pass a YAML file, e.g. configs/fashion_mnist_lenet.yaml")
    if not p.is_file():
        raise PracError(f"config file {p} does not exist; pass an existing YAML file (see configs/)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.constructor.ConstructorError as e:  # a tag such as !!python/object: safe_load never builds objects
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PracError(f"config file {p} uses a YAML tag that prac does not load{at} ({e.problem}); "
                        "write plain values (numbers, strings, lists) only") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PracError(f"config file {p} is not valid YAML{at}; fix its syntax") from None
    except UnicodeDecodeError:
        raise PracError(f"config file {p} is not UTF-8 text (a binary file?); pass a YAML file") from None
    except OSError as e:
        raise PracError(f"config file {p} cannot be read ({e.strerror}); check its permissions") from None
    if not isinstance(data, dict):
        raise PracError(f"config file {p} must hold a mapping of keys to values, not a {type(data).__name__}; "
                        "write one 'key: value' per line (see configs/)")
    return data


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = (),
                base: dict | None = None, values: typing.Mapping[str, typing.Any] | None = None) -> Config:
    """Read a YAML experiment file (or the embedded default), apply ``key=value`` overrides, check.

    ``base`` (plain data, e.g. the config a cached PrAC set was built with) sits under both;
    ``values`` (dotted keys to values, the Python API's form of ``--set``) go on top."""
    data = read_yaml(path) if path is not None else {}
    if base:
        data = _merge(base, data)
    for text in overrides:
        data = _merge(data, parse_override(text))
    for key, value in (values or {}).items():
        data = _merge(data, nested(key, list(value) if isinstance(value, tuple) else value))
    return _build(Config, data).check()


def load_transfer(path: str | Path, overrides: typing.Sequence[str] = ()) -> tuple[Config, Config]:
    """A transfer file names two experiment files on the same data, ``source`` (the
    architecture that builds the PrAC set) and ``target`` (the one that reuses it), as paths
    relative to the transfer file. An override ``source.KEY=V`` or ``target.KEY=V`` changes
    one side; a plain ``KEY=V`` changes both."""
    spec = read_yaml(path)
    if set(spec) != {"source", "target"} or not all(isinstance(v, str) for v in spec.values()):
        raise PracError(f"transfer file {path} must hold exactly 'source: FILE' and 'target: FILE' "
                        "(experiment configs, relative to it); see configs/transfer_*.yaml")
    side: dict[str, list[str]] = {"source": [], "target": []}
    for text in overrides:
        head, _, rest = text.partition(".")
        for name in ([head] if head in side and rest else side):
            side[name].append(rest if head == name else text)
    here = Path(path).parent
    return tuple(load_config(here / spec[name], side[name]) for name in ("source", "target"))  # type: ignore[return-value]


def shipped_configs() -> dict[str, Path]:
    """The experiment files shipped with prac, by name (the file name without .yaml): the
    package data ``prac/configs/`` of an installed wheel, or ``configs/`` beside ``prac/`` in a
    source checkout (an editable install)."""
    here = Path(__file__).resolve().parents[1]  # prac/
    for folder in (here / "configs", here.parent / "configs"):
        found = {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}
        if found:
            return found
    return {}


def config_path(value: str | Path | None) -> Path | None:
    """``--config``: a path as given, or a shipped config's name (``fashion_mnist_lenet``, with
    or without ``.yaml``) from any working directory; an unknown bare name lists the shipped ones."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() or len(path.parts) != 1:  # a path: read_yaml says what is wrong with it
        return path
    shipped = shipped_configs()
    name = path.stem if path.suffix in (".yaml", ".yml") else path.name
    if name in shipped:
        return shipped[name]
    raise PracError(f"--config '{value}' is neither a file nor a shipped config; shipped: {', '.join(shipped)} "
                    "(or give the path of a YAML file)")


def load_experiment(path, overrides=(), base: dict | None = None) -> Config:
    """load_config, and a transfer file given where an experiment file belongs said as such."""
    try:
        return load_config(path, overrides, base=base)
    except PracError:
        try:
            transfer = path is not None and set(read_yaml(path)) == {"source", "target"}
        except PracError:
            transfer = False
        if transfer:
            raise PracError(f"{path} is a transfer file (source + target experiment files); use it with "
                            "`prac bench transfer --config FILE`, or pass one of the two files it names") from None
        raise
