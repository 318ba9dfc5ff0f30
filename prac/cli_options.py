"""The command line's shared options: the config, its overrides, the artifact root, quiet."""

from __future__ import annotations

import typer

from prac.config.load import shipped_configs
from prac.config.schema import describe_keys
from prac.config.show import _default

KEYS_HELP = ("Settable keys with their defaults (`prac config` prints them with their help): "
             + ", ".join(f"{k}={_default(d)}" for k, d, _ in describe_keys()) + ".")

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML experiment file, or the name of a shipped one: "
                         + ", ".join(shipped_configs()) + ". Default: digits + LeNet-300-100.")
SetOpt = typer.Option(None, "--set", "-s", help="Override a config value, e.g. --set train.lr=0.01 (repeatable). "
                                               + KEYS_HELP)
# "\\[" keeps rich markup from taking "[default: ...]" for a style tag and dropping it
OutOpt = typer.Option(None, "--out", help="Artifact root: PrAC sets go to DIR/prac/<key>/, runs to DIR/runs/<run>/. "
                                          "\\[default: artifacts]")
BenchOutOpt = typer.Option(None, "--out", help="The artifact root, as for find-ticket (its PrAC sets and runs are "
                                               "shared with find-ticket's), and the folder of the results "
                                               "(DIR/bench.json, lth.json or planted.json, with .md and plots). "
                                               "\\[default: sets and runs in artifacts, results in artifacts/bench "
                                               "(lth: artifacts/lth; planted: artifacts/planted)]")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress output (bars on a terminal, progress lines "
                                                     "when piped).")
