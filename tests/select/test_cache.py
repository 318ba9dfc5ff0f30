import json
import multiprocessing as mp
import os

import pytest
import torch

from prac import paths
from prac.select import cache
from prac.errors import PracError
from prac.store import write_json

KEY = "ab" * 32


def publish(root, key=KEY, value=1.0):
    return cache.publish(paths.prac_dir(root, key), {cache.STATS: {"index": torch.tensor([1, 2, 3])},
                                                      cache.DENSE: {"w": torch.full((4,), value)}},
                         {"created": "2026", "model": "m", "dataset": "d", "prac_size": 3, "prac_fraction": 0.3,
                          "threshold": 0})


def test_round_trip_and_checksum(tmp_path):
    e = publish(tmp_path)
    assert e.stats()["index"].tolist() == [1, 2, 3]
    assert cache.resolve(tmp_path, KEY[:8]).path == e.path
    assert cache.resolve(tmp_path, str(e.path)).path == e.path
    raw = bytearray((e.path / cache.DENSE).read_bytes())
    raw[-1] ^= 0xFF
    (e.path / cache.DENSE).write_bytes(bytes(raw))
    with pytest.raises(PracError, match="corrupt"):
        e.dense()


def test_unknown_ambiguous_and_malformed_keys(tmp_path):
    publish(tmp_path)
    publish(tmp_path, "abab" + "cd" * 30)
    with pytest.raises(PracError, match="no PrAC set"):
        cache.resolve(tmp_path, "ffff")
    with pytest.raises(PracError, match="matches 2"):
        cache.resolve(tmp_path, "abab")
    for bad in ("../etc", "/etc/passwd", "ABCD", "a b"):
        with pytest.raises(PracError):
            cache.resolve(tmp_path, bad)


def test_symlink_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "prac").mkdir(parents=True)
    (tmp_path / "root" / "prac" / KEY).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PracError, match="outside"):
        paths.prac_dir(tmp_path / "root", KEY)


def _race(root, value):
    publish(root, value=value)


def test_concurrent_publishers_leave_one_complete_entry(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_race, args=(tmp_path, float(i))) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * 4
    names = sorted(x.name for x in (tmp_path / "prac").iterdir())
    assert names == [KEY]                                   # no temporary folders left behind
    e = cache.load(tmp_path / "prac" / KEY)
    assert e.dense()["w"].numel() == 4 and json.loads((e.path / "meta.json").read_text())["files"]


def test_artifacts_get_the_usual_file_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_json(tmp_path / "a.json", {"x": 1})
    # not mkstemp's owner-only 0600: others sharing the artifact folder can read it
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_entry_folder_gets_the_usual_folder_permissions(tmp_path):
    """Not mkdtemp's owner-only 0700: a PrAC set in a shared artifact root is readable by the
    others, like its files (and the same under a stricter umask)."""
    old = os.umask(0o022)
    try:
        e = publish(tmp_path)
        os.umask(0o027)
        strict = publish(tmp_path, "cd" * 32)
    finally:
        os.umask(old)
    assert e.path.stat().st_mode & 0o777 == 0o755
    assert strict.path.stat().st_mode & 0o777 == 0o750
