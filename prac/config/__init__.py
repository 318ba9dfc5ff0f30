"""The configuration: typed groups (``schema``), read from YAML and ``--set`` (``load``)."""

from prac.config.schema import *  # noqa: F401,F403
from prac.config.schema import Config, DatasetConfig, ModelConfig, PruneConfig, SelectConfig, TrainConfig  # noqa: F401
