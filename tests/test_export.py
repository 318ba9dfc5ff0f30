import json
import struct

import pytest
import torch
from safetensors.torch import save
from torch import nn

from prac.errors import PracError
from prac.export import decode_mask, encode_mask, read_export, sparse_linear_model, write_export


def ticket(density: float = 0.05):
    """A conv + linear net with a bias-free layer, its masks at ``density`` (one layer kept
    whole, one pruned away entirely) and rewind weights that are not zero where pruned."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 4 * 4, 50, bias=False),
                        nn.Linear(50, 20), nn.Linear(20, 10))
    masks = {"0.weight": torch.rand(8, 3, 3, 3) < density, "3.weight": torch.rand(50, 128) < density,
             "4.weight": torch.ones(20, 50, dtype=torch.bool), "5.weight": torch.zeros(10, 20, dtype=torch.bool)}
    rewind = {k: torch.randn_like(v) if v.is_floating_point() else v + 1 for k, v in net.state_dict().items()}
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in masks:
                p.mul_(masks[name])
    return net.state_dict(), masks, rewind


def test_round_trip_is_exact_with_rewind_read_as_mask_times_rewind(tmp_path):
    trained, masks, rewind = ticket()
    header = {"model": "toy", "prunable": list(masks)}
    write_export(tmp_path / "t.safetensors", trained=trained, masks=masks, header=header, rewind=rewind)
    got = read_export(tmp_path / "t.safetensors")
    assert got.header == header
    assert got.masks.keys() == masks.keys() and all(torch.equal(got.masks[k], m) for k, m in masks.items())
    assert all(got.masks[k].dtype == torch.bool for k in masks)
    assert got.trained.keys() == trained.keys()
    for k, v in trained.items():
        assert got.trained[k].dtype == v.dtype and torch.equal(got.trained[k], v), k
    for k, v in rewind.items():
        want = v * masks[k] if k in masks else v
        assert torch.equal(got.rewind[k], want), k
    assert not torch.equal(got.rewind["3.weight"], rewind["3.weight"])  # pruned rewind values are dropped


def test_without_rewind_and_other_dtypes(tmp_path):
    trained = {"w": torch.tensor([[0.0, 1.5], [0.0, -2.0]], dtype=torch.float64), "n": torch.tensor(7)}
    masks = {"w": trained["w"] != 0}
    write_export(tmp_path / "t.safetensors", trained=trained, masks=masks, header={})
    got = read_export(tmp_path / "t.safetensors")
    assert got.rewind is None and got.trained["w"].dtype == torch.float64
    assert torch.equal(got.trained["w"], trained["w"])
    assert torch.equal(got.trained["n"], trained["n"])


def test_the_smaller_mask_encoding_is_chosen():
    dense = torch.rand(100, 100) < 0.5       # 1,250 bytes of bits vs 5,000 x 2 bytes of int16 indices
    assert encode_mask(dense)[0] == "bits" and encode_mask(dense)[1].numel() == 1250
    sparse = torch.zeros(100, 100, dtype=torch.bool)
    sparse.view(-1)[torch.tensor([3, 500, 9999])] = True   # 6 bytes of indices vs 1,250 bytes of bits
    kind, data = encode_mask(sparse)
    assert kind == "index" and data.dtype == torch.int16 and data.tolist() == [3, 500, 9999]
    assert encode_mask(torch.ones(200, dtype=torch.bool))[0] == "bits"
    assert encode_mask(torch.tensor([False] * 10 + [True]))[1].dtype == torch.uint8
    for m in (dense, sparse, torch.zeros(7, 3, dtype=torch.bool), torch.ones(7, 3, dtype=torch.bool)):
        assert torch.equal(decode_mask(*encode_mask(m), list(m.shape)), m)


def test_export_is_much_smaller_than_dense_at_5_to_10_percent(tmp_path):
    torch.manual_seed(0)
    for density in (0.05, 0.1):
        masks = {"a": torch.rand(300, 784) < density, "b": torch.rand(100, 300) < density}
        trained = {"a": torch.randn(300, 784) * masks["a"], "b": torch.randn(100, 300) * masks["b"],
                   "a_bias": torch.randn(300)}
        sizes = write_export(tmp_path / "t.safetensors", trained=trained, masks=masks, header={})
        assert sizes["bytes"] == (tmp_path / "t.safetensors").stat().st_size
        assert sizes["bytes"] < 0.2 * sizes["dense_bytes"], (density, sizes)
        assert len(save(trained)) == sizes["dense_bytes"]


def test_refuses_a_state_that_is_not_masked(tmp_path):
    trained, masks, _ = ticket()
    trained["3.weight"] = trained["3.weight"] + 1
    with pytest.raises(PracError, match="apply the masks"):
        write_export(tmp_path / "t.safetensors", trained=trained, masks=masks, header={})


def test_refuses_foreign_truncated_corrupt_and_future_files(tmp_path):
    trained, masks, rewind = ticket()
    good = tmp_path / "t.safetensors"
    write_export(good, trained=trained, masks=masks, header={"x": 1}, rewind=rewind)
    data = good.read_bytes()
    cases = {"foreign.safetensors": save({"w": torch.ones(3)}),
             "text.safetensors": b"hello, not a tensor file",
             "truncated.safetensors": data[:len(data) - 100],
             "flipped.safetensors": data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:]}
    n = struct.unpack("<Q", data[:8])[0]  # the safetensors header: its length, then JSON
    head = json.loads(data[8:8 + n])
    head["__metadata__"]["version"] = "99"
    raw = json.dumps(head).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    cases["future.safetensors"] = struct.pack("<Q", len(raw)) + raw + data[8 + n:]
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(PracError) as e:
            read_export(tmp_path / name)
        assert "\n" not in str(e.value) and ";" in str(e.value), name
        if name == "future.safetensors":
            assert "version" in str(e.value)
    with pytest.raises(PracError):
        read_export(tmp_path / "missing.safetensors")


def test_sparse_linear_model_gives_the_same_outputs():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 100, bias=False), nn.ReLU(),
                        nn.Linear(100, 10))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(torch.rand_like(m.weight) < 0.06)
    sparse = sparse_linear_model(net)
    assert sum(type(m).__name__ == "CSRLinear" for m in sparse.modules()) == 3
    assert not any(isinstance(m, nn.Linear) for m in sparse.modules())
    with torch.inference_mode():
        for batch in (1, 256):
            x = torch.randn(batch, 1, 8, 8)
            torch.testing.assert_close(sparse(x), net(x), rtol=1e-5, atol=1e-5)
        timed = sparse_linear_model(net, example=torch.randn(32, 1, 8, 8), reps=3)  # swaps where faster
        torch.testing.assert_close(timed(x), net(x), rtol=1e-5, atol=1e-5)
    single = nn.Linear(5, 3)
    torch.testing.assert_close(sparse_linear_model(single)(torch.ones(2, 5)), single(torch.ones(2, 5)).detach())


def test_where_faster_keeps_csr_only_where_the_whole_model_gains(monkeypatch):
    from prac import export
    from prac.export import CSRLinear

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(3, 8)

    def csr_count(m):
        return sum(isinstance(layer, CSRLinear) for layer in m.modules())
    # a clock under which a model is slower the more CSR layers it has (and the reverse)
    monkeypatch.setattr(export, "_timed", lambda m, _x: csr_count(m))
    assert csr_count(sparse_linear_model(net, example=x, reps=2)) == 0
    monkeypatch.setattr(export, "_timed", lambda m, _x: -csr_count(m))
    assert csr_count(sparse_linear_model(net, example=x, reps=2)) == 3
    # only the middle layer pays off in CSR
    monkeypatch.setattr(export, "_timed", lambda m, _x: csr_count(m) - 5 * isinstance(m[2], CSRLinear))
    chosen = sparse_linear_model(net, example=x, reps=2)
    assert [isinstance(chosen[i], CSRLinear) for i in (0, 2, 4)] == [False, True, False]
    torch.testing.assert_close(chosen(x), net(x).detach())
