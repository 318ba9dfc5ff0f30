"""A restricted unpickler for the CIFAR "python version" batches.

Those files are pickled dicts of numpy arrays, and an ordinary ``pickle.load`` runs any code
a file names (``os.system`` and friends). A dataset is data: it never needs to run code. So
``find_class`` here hands out only the handful of numpy functions that rebuild an array,
and refuses everything else *before* it is imported or called.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

from prac.errors import PracError

try:  # numpy >= 2 keeps these in numpy._core; pickles from older numpy say numpy.core
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray, numeric as _numeric

_reconstruct = _multiarray._reconstruct
_frombuffer = getattr(_numeric, "_frombuffer", None)

# (module, name) as written in the pickle -> the object to hand back. Resolved here rather
# than imported from the file's names, so numpy.core's deprecation shim is never touched.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # pickle protocol <= 4, numpy 1.x
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # pickle protocol <= 4, numpy 2.x
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
}


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")  # the original batches were written by Python 2
        self.path = path

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            what = f"{module}.{name}"[:120]
            what = what if what.isprintable() else ascii(what)  # the names come from the file: keep one line
            raise PracError(f"{self.path} is not a CIFAR batch: it asks to load {what}, which plain data never "
                            "needs, so it was refused; use the files from https://www.cs.toronto.edu/~kriz/cifar.html")
        return obj


def load(path: str | Path) -> object:
    """Unpickle ``path`` allowing only numpy arrays, lists, dicts, numbers and strings."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _DataUnpickler(f, path).load()
    except PracError:
        raise
    except Exception as e:  # truncated or garbage files raise many different types
        raise PracError(f"{path} is not a readable CIFAR batch ({type(e).__name__}); download it again") from None
