"""The Python API on a model prac has never seen: masks, zeros, cache keys, save / export / load."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import prac
from prac.config.load import load_config
from prac.errors import PracError

TINY = {"train__epochs": 3, "prune__rounds": 2}


class ResidualCNN(nn.Module):
    """A network outside the registry: a residual connection, a bias-free conv, a Conv1d."""

    def __init__(self, width: int = 6):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        self.res = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.mix = nn.Conv1d(width, width, 1)
        self.head = nn.Linear(width * 64, 10)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = torch.relu(h + self.res(h))
        h = self.mix(h.flatten(2)).relu()
        return self.head(h.flatten(1))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x, y = d.images[:700].astype(np.float32), d.target[:700]
    return x[:600], y[:600], torch.from_numpy(x[600:]), torch.from_numpy(y[600:])   # numpy and torch both


@pytest.fixture(scope="module")
def found(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    pset = prac.build_prac(ResidualCNN, *digits, out=out, **TINY)
    ticket = prac.find_ticket(ResidualCNN, *digits, prac_set=pset, out=out, **TINY)
    return pset, ticket, out


def test_build_returns_the_cached_set(found, digits):
    pset, _, out = found
    assert pset.index.dtype == torch.int64 and torch.equal(pset.index, pset.index.sort().values)
    assert 0 < len(pset) < 540 and pset.meta["train_size"] == 540      # 600 less the 10 % validation split
    assert pset.path.parent == out / "prac" and pset.meta["user_model"] and pset.meta["model"] == "ResidualCNN"
    assert prac.build_prac(ResidualCNN, *digits, out=out, **TINY).key == pset.key       # a cache hit


def test_every_linear_and_conv_weight_is_pruned_and_stays_exactly_zero(found):
    _, ticket, _ = found
    assert set(ticket.masks) == {"stem.weight", "res.weight", "mix.weight", "head.weight"}
    net = ticket.model()
    params = dict(net.named_parameters())
    for name, m in ticket.masks.items():
        assert m.dtype == torch.bool and (params[name][~m] == 0).all() and (params[name][m] != 0).all()
    hidden = ticket.masks["res.weight"].float().mean()
    assert abs(hidden - 0.64) < 0.01                                   # two rounds at 20 %
    assert abs(ticket.masks["head.weight"].float().mean() - 0.81) < 0.01  # the output layer at half the rate
    rewound = ticket.model(trained=False)
    assert all((dict(rewound.named_parameters())[k][~m] == 0).all() for k, m in ticket.masks.items())


def test_the_report_and_the_ticket_agree(found, digits):
    _, ticket, _ = found
    r = ticket.report
    assert r["model"] == "ResidualCNN" and r["dataset"] == "arrays" and r["ticket"]["retrains"] == 1
    x_test, y_test = digits[2], digits[3]
    with torch.no_grad():
        acc = int((ticket.model()(ticket.preprocess(x_test)).argmax(1) == y_test).sum()) / len(y_test)
    assert acc == pytest.approx(r["ticket_test_acc"], abs=1e-9)


def test_save_export_and_load_predict_identically(found, digits, tmp_path):
    _, ticket, _ = found
    x = ticket.preprocess(digits[2])
    with torch.no_grad():
        want = ticket.model()(x)
        from_run = prac.load_ticket(ticket.run_dir, model_fn=ResidualCNN).model()(x)
        sizes = ticket.export(tmp_path / "t.safetensors", rewind=True)
        exported = prac.load_ticket(tmp_path / "t.safetensors", model_fn=ResidualCNN)
        assert torch.equal(from_run, want) and torch.equal(exported.model()(x), want)
        assert torch.equal(exported.model(trained=False)(x), ticket.model(trained=False)(x))
    assert all(torch.equal(exported.masks[k], m) for k, m in ticket.masks.items())
    assert sizes["bytes"] > ticket.export(tmp_path / "plain.safetensors")["bytes"]     # rewind weights cost room
    plain = ticket.export(tmp_path / "plain.safetensors")
    assert plain["bytes"] < plain["dense_bytes"]                   # 64 % of the weights: values + mask bits


def test_a_user_model_needs_its_model_fn_to_load(found):
    _, ticket, _ = found
    with pytest.raises(PracError, match="model of your own"):
        prac.load_ticket(ticket.run_dir)
    with pytest.raises(PracError, match="does not match"):
        prac.load_ticket(ticket.run_dir, model_fn=lambda: ResidualCNN(width=4))


def test_the_cache_key_changes_with_architecture_and_initialisation(found, digits, tmp_path):
    from prac.api import _setup
    from prac.select.build import prac_key

    pset, _, _ = found
    key = lambda fn, **kw: prac_key(_setup(fn, digits, None, {**TINY, **kw}, None))   # noqa: E731
    assert key(ResidualCNN) == pset.key
    assert key(lambda: ResidualCNN(width=4)) != pset.key                         # architecture
    assert key(ResidualCNN, seed=1) != pset.key                                    # initialisation (seed)

    def reinitialised():
        net = ResidualCNN()
        nn.init.zeros_(net.stem.bias.data.add_(0.5))
        return net
    assert key(reinitialised) != pset.key                                          # initialisation (code)


def test_a_registry_model_from_python_is_the_command_lines_run(tmp_path):
    from prac.select.build import build_set as stage
    from prac.setup import from_config

    overrides = {"train.epochs": 2, "prune.rounds": 1, "dataset.train_limit": 300}
    ticket = prac.find_ticket(config=overrides, out=tmp_path)
    cli_entry = stage(from_config(load_config(None, [f"{k}={v}" for k, v in overrides.items()])), tmp_path)
    assert ticket.report["prac_key"] == cli_entry.key and ticket.report["model"] == "lenet_300_100"
    reloaded = prac.load_ticket(ticket.run_dir)                 # a registry model rebuilds itself
    assert all(torch.equal(a, b) for a, b in zip(reloaded.model().state_dict().values(),
                                                 ticket.model().state_dict().values()))


def test_prunable_names_choose_the_weights(digits, tmp_path):
    ticket = prac.find_ticket(ResidualCNN, *digits, out=tmp_path, prunable=["res.weight", "head.weight"], **TINY)
    assert set(ticket.masks) == {"res.weight", "head.weight"}
    assert (ticket.model().stem.weight != 0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"train.lr": -1}}, "train.lr=-1.0 must be positive"),
    ({"train__lrr": 0.1}, "unknown config key 'train.lrr'; did you mean 'train.lr'"),
    ({"config": {"prune.validate": "best"}}, "prune.validate 'best' is unknown"),
    ({"config": 3}, "config is a int"),
    ({"prunable": ["nope.weight"]}, "not parameters of ResidualCNN"),
])
def test_bad_settings_raise_the_command_lines_one_line_errors(digits, tmp_path, kwargs, message):
    with pytest.raises(PracError, match=message.replace("(", r"\(").replace(".", r"\.")) as e:
        prac.build_prac(ResidualCNN, *digits, out=tmp_path, **{**TINY, **kwargs})
    assert "\n" not in str(e.value)
    assert not (tmp_path / "prac").exists() or not any((tmp_path / "prac").iterdir())


@pytest.mark.parametrize("model_fn, message", [
    (lambda: "not a net", "returned a str, not an nn.Module"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), "not to 2×10 class logits"),
    (lambda: nn.Sequential(nn.Linear(5, 10)), "failed on a batch of shape"),
])
def test_a_model_that_does_not_fit_is_refused(digits, tmp_path, model_fn, message):
    with pytest.raises(PracError, match=message):
        prac.build_prac(model_fn, *digits, out=tmp_path, **TINY)


def test_arrays_are_checked_like_an_npz_file(digits, tmp_path):
    x, y, xt, yt = digits
    with pytest.raises(PracError, match="pass all four"):
        prac.build_prac(ResidualCNN, x, y, out=tmp_path)
    with pytest.raises(PracError, match="x_train has 600 samples but y_train has 599"):
        prac.build_prac(ResidualCNN, x, y[:-1], xt, yt, out=tmp_path)
    with pytest.raises(PracError, match="labels must be integers"):
        prac.build_prac(ResidualCNN, x, y - 1, xt, yt, out=tmp_path)


def test_the_example_script_runs_and_its_ticket_reloads(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "own_model.py"
    spec = importlib.util.spec_from_file_location("own_model", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ticket = example.main(str(tmp_path), train__epochs=2, prune__rounds=3, dataset__train_limit=400)
    assert ticket.report["config"]["prune"]["validate"] == "bisect"
    assert (tmp_path / "digits_cnn_ticket.safetensors").is_file()
    assert json.loads((ticket.run_dir / "report.json").read_text())["ticket"] == ticket.report["ticket"]
