"""The resolved configuration as commented YAML (``prac config``): every key with its value,
its default where the value differs, and its help; ``yaml.safe_load`` reads it back."""

from __future__ import annotations

import ast

import yaml

from prac.config.schema import describe_keys, to_dict


def yaml_value(value) -> str:
    """One value as YAML in flow style, as ``--set`` reads it back: ``null``, ``[300, 100]``, ``0.0012``."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2 ** 31, allow_unicode=True).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def _literal(shown: str):
    """describe_keys' default (a Python repr) as plain data (tuples as lists); the text itself
    when it is not a plain literal."""
    try:
        value = ast.literal_eval(shown)
    except (ValueError, SyntaxError):
        return shown
    return list(value) if isinstance(value, tuple) else value


def _default(shown: str) -> str:
    """describe_keys' default as YAML, as --set takes it: ``null``, ``[300, 100]``, ``digits``."""
    value = _literal(shown)
    return shown if value is shown else yaml_value(value)


def config_yaml(cfg, config=None, overrides=()) -> str:
    """``cfg`` as commented YAML, one key a line in describe_keys' order, nested by its dots:
    ``lr: 0.01  # default 0.0012; peak learning rate``. yaml.safe_load reads it back to to_dict(cfg)."""
    values = to_dict(cfg)
    source = " ".join([f"--config {config}" if config else "the embedded default"] + [f"--set {o}" for o in overrides])
    rows = [(f"# prac configuration from {source}; change any value with --set KEY=VALUE", ""), ("", "")]
    previous: list[str] = []
    for key, default, help_ in describe_keys():
        parts = key.split(".")
        value = values
        for part in parts:
            value = value[part]
        for depth, group in enumerate(parts[:-1]):  # open the groups this key enters
            if previous[:depth + 1] != parts[:depth + 1]:
                rows += [("", "")] * (depth == 0 and rows[-1] != ("", "")) + [("  " * depth + f"{group}:", "")]
        previous = parts[:-1]
        note = " ".join(help_.split())
        if _literal(default) != value:  # 10 == 10.0: a float key set to its default is not a change
            note = f"default {_default(default)}" + (f"; {note}" if note else "")
        rows.append(("  " * (len(parts) - 1) + f"{parts[-1]}: {yaml_value(value)}", note))
    width = min(40, max((len(text) for text, note in rows if note), default=0))
    return "".join((f"{text.ljust(width)}  # {note}" if note else text) + "\n" for text, note in rows)
