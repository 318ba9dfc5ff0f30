"""A user's own data in one ``.npz`` file: x_train, y_train, x_test, y_test.

Images may be N×H×W (grey), N×H×W×C (C = 1, 3 or 4 in the last axis, as numpy/PIL store
them) or already N×C×H×W; anything 2-D is flat features N×D. The file is opened with
``allow_pickle=False``: an npz from someone else must not be able to run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from prac.config.schema import DatasetConfig
from prac.data.prepare import Raw
from prac.errors import PracError

KEYS = ("x_train", "y_train", "x_test", "y_test")
_CHANNELS = (1, 3, 4)


def to_layout(x: np.ndarray, source: str, name: str) -> np.ndarray:
    """N×H×W -> N×1×H×W, N×H×W×C -> N×C×H×W, N×C×H×W and N×D unchanged."""
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[-1] in _CHANNELS:  # channels-last is the common layout of saved image arrays
            return x.transpose(0, 3, 1, 2)
        if x.shape[1] in _CHANNELS:
            return x
    raise PracError(f"{source}: {name} has shape {x.shape}; use images N×H×W, N×H×W×C (C in 1, 3, 4) "
                    "or flat features N×D")


def load(cfg: DatasetConfig) -> Raw:
    if cfg.path is None:
        raise PracError("dataset.kind=npz needs a file; set dataset.path to an .npz with x_train, y_train, x_test, y_test")
    path = Path(cfg.path)
    source = f"npz file {path}"
    if path.is_dir():
        raise PracError(f"{source} is a directory; set dataset.path to the .npz file itself")
    if not path.is_file():
        raise PracError(f"{source} does not exist; set dataset.path to an .npz with x_train, y_train, x_test, y_test")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise PracError(f"{source} holds a single array, not an npz archive; "
                            "save it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
        with archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise PracError(f"{source}: missing {', '.join(missing)} (found {', '.join(archive.files) or 'nothing'}); "
                                "save x_train, y_train, x_test, y_test")
            arrays = {k: archive[k] for k in KEYS}
    except PracError:
        raise
    except PermissionError:
        raise PracError(f"{source} is not readable (permission denied); make it readable or copy it elsewhere") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:  # a cut-off download or copy
        msg = str(e).splitlines()[0] if str(e) else ""
        raise PracError(f"{source} is damaged or truncated ({type(e).__name__}: {msg}); save or copy it again") from None
    except ValueError as e:  # object arrays (pickles), or not a numpy file at all
        msg = str(e).splitlines()[0] if str(e) else ""
        raise PracError(f"{source} cannot be read ({type(e).__name__}: {msg}); save it with numpy.savez "
                        "using plain numeric arrays") from None
    for k in ("x_train", "x_test"):
        arrays[k] = to_layout(arrays[k], source, k)
    return Raw(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=source)
