"""Every model of the package keeps its tensors where ``model.to(device)`` moves them.

A CPU-only machine cannot run a model on a GPU, so two things are checked that a GPU
run relies on:

- after construction and ``model.to("meta")``, every tensor the model holds (through
  submodules, lists, dicts and plain objects of this package) is on the meta device:
  ``model.to(device)`` moves parameters and registered buffers only, so any other
  tensor stays behind and is later indexed with batch tensors from another device
  (CDAE's histories did);
- ``calculate_loss``, ``predict`` and ``full_sort_predict`` create no tensor with a
  torch factory (``zeros``, ``arange``, ``tensor``, ...) without ``device=`` in this
  package's code, since such a tensor lands on the CPU whatever the model's device.
"""

import sys
from pathlib import Path

import pytest
import torch
from recbole.utils import ModelType
from torch import nn

import recbole_denoise
import recbole_denoise.model.layers
from conftest import write_multimodal_dataset, write_planted_dataset
from recbole_denoise.data.dataset import MultimodalDataset
from recbole_denoise.data.feedback_dataset import FeedbackHistoryDataset
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset
from recbole_denoise.utils import get_model
from support import prepared

PACKAGE_DIR = str(Path(recbole_denoise.__file__).resolve().parent)
MODEL_DIR = Path(PACKAGE_DIR) / "model"
FACTORIES = ("zeros", "ones", "full", "empty", "arange", "tensor", "as_tensor", "rand", "randn",
             "randint", "randperm", "eye", "linspace", "from_numpy")  # from_numpy: always CPU

# models whose device problems sit in files other helpers own; strict, so a fix shows
KNOWN_PROBLEMS = {}

KNOWN_DEVICE_LESS_CALLS = {}


def package_models():
    """Class names of every model of the package (the registry's rule: in each
    ``model/*_recommender/<name>.py`` the class whose lower-case name is the file name)."""
    from recbole_denoise.catalog import package_model_names

    return package_model_names()


def _case(name, known=None):
    marks = ()
    if name in (known or {}):
        marks = pytest.mark.xfail(reason=known[name], strict=True)
    return pytest.param(name, marks=marks, id=name)


def _build(name, tmp_path):
    """The model ``name`` on a tiny dataset of the kind it reads, and a training batch."""
    wants = getattr(get_model(name), "dataset_class", None)
    if wants is not None and issubclass(wants, WatchTimeDataset):
        model, (train, _, _), _ = prepared(name, "microvideo-sim", tmp_path / "saved")
    elif (wants is not None and issubclass(wants, FeedbackHistoryDataset)) or get_model(name).type == ModelType.CONTEXT:
        # DUMN, ClickDIN and the label-rate rankers: a hand-made feedback log
        from test_dumn import SMALL, write_feedback_log
        write_feedback_log(str(tmp_path / "data"))
        model, (train, _, _), _ = prepared(name, "fb", tmp_path / "saved", data_path=str(tmp_path / "data"),
                                           **dict(SMALL, train_batch_size=32))
    elif wants is not None and issubclass(wants, MultimodalDataset):
        write_multimodal_dataset(str(tmp_path / "data"))
        model, (train, _, _), _ = prepared(name, "mm", tmp_path / "saved", data_path=str(tmp_path / "data"),
                                           epochs=1)
    else:
        write_planted_dataset(str(tmp_path / "data"))
        model, (train, _, _), _ = prepared(name, "planted", tmp_path / "saved", data_path=str(tmp_path / "data"),
                                           load_col={"inter": ["user_id", "item_id", "clean"]},
                                           train_batch_size=32)
    batch = next(iter(train))
    if model.ITEM_ID not in batch:  # user-wise batches (CDAE): score item 1 for each user
        batch.interaction[model.ITEM_ID] = torch.ones_like(batch[model.USER_ID])
    return model, batch


def held_tensors(obj, path="model", seen=None):
    """``(path, tensor)`` of every tensor reachable from ``obj`` through modules'
    parameters, buffers, submodules and attributes, lists, tuples, dicts, and plain
    objects of this package."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from held_tensors(value, f"{path}[{key!r}]", seen)
    elif isinstance(obj, (list, tuple, set)):
        for index, value in enumerate(obj):
            yield from held_tensors(value, f"{path}[{index}]", seen)
    elif isinstance(obj, nn.Module) or type(obj).__module__.startswith("recbole_denoise"):
        for name, value in vars(obj).items():
            if name in ("_parameters", "_buffers", "_modules"):
                for key, item in value.items():
                    yield from held_tensors(item, f"{path}.{key}", seen)
            elif not name.startswith("_"):
                yield from held_tensors(value, f"{path}.{name}", seen)


def tensors_left_behind(model):
    """Paths of the tensors ``model`` holds that stay on their device when the model
    moves to the ``meta`` device (a move every CPU-only machine can make)."""
    model.to("meta")
    return [path for path, tensor in held_tensors(model) if tensor.device.type != "meta"]


def device_less_factory_calls(monkeypatch, run):
    """``file:line torch.<factory>`` for each factory call without ``device=`` made by
    this package's code while ``run()`` runs."""
    calls = []

    def recording(name, factory):
        def wrapper(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if PACKAGE_DIR in str(Path(caller).resolve()) and "device" not in kwargs:
                calls.append(f"{Path(caller).name}:{sys._getframe(1).f_lineno} torch.{name}")
            return factory(*args, **kwargs)
        return wrapper

    for name in FACTORIES:
        monkeypatch.setattr(torch, name, recording(name, getattr(torch, name)))
    try:
        run()
    finally:
        monkeypatch.undo()
    return calls


def _score_everything(model, batch):
    model.train()
    model.calculate_loss(batch)
    model.eval()
    with torch.no_grad():
        model.predict(batch)
        try:
            model.full_sort_predict(batch)
        except NotImplementedError:  # ShorterFirst: needs each view's duration
            pass


def test_every_model_file_is_covered():
    assert {"GRCN", "CDAE", "GMF", "FRAME", "DPSkipNet", "Popularity", "ItemCompletionRate", "ShorterFirst",
            "LongerFirst", "NeuMF", "DUMN", "ClickDIN", "GlobalRate", "UserRate", "ItemRate"} <= set(package_models())


@pytest.mark.parametrize("name", [_case(name, KNOWN_PROBLEMS) for name in package_models()])
def test_held_tensors_follow_the_model_to_another_device(name, tmp_path):
    model, _ = _build(name, tmp_path)
    assert tensors_left_behind(model) == []


@pytest.mark.parametrize("name", [_case(name, KNOWN_DEVICE_LESS_CALLS) for name in package_models()])
def test_scoring_creates_tensors_on_the_models_device(name, tmp_path, monkeypatch):
    model, batch = _build(name, tmp_path)
    assert device_less_factory_calls(monkeypatch, lambda: _score_everything(model, batch)) == []


def test_the_walk_finds_tensors_in_attributes_lists_dicts_and_package_objects():
    from recbole_denoise.model.layers import BipartiteGraph

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(2))
            self.register_buffer("kept", torch.zeros(2))
            self.graph = BipartiteGraph(torch.tensor([0]), torch.tensor([1]), 1, 2)  # a submodule
            self.plain = torch.zeros(2)
            self.norms = [torch.zeros(2)]
            self.graphs = {"high": BipartiteGraph(torch.tensor([0]), torch.tensor([0]), 1, 1)}

    found = tensors_left_behind(Holder())
    assert "model.plain" in found and "model.norms[0]" in found
    assert "model.graphs['high'].rows" in found
    assert not any(path.startswith(("model.weight", "model.kept", "model.graph.")) for path in found)


def test_factory_calls_without_device_are_recorded(monkeypatch):
    def scoring():
        torch.zeros(3)  # this file is not in the package: ignored
        recbole_denoise.model.layers._compressed_pointer(torch.tensor([0, 1]), 2)  # passes device=

    assert device_less_factory_calls(monkeypatch, scoring) == []
    source = compile("import torch\ndef make():\n    return torch.ones(2)\n", f"{PACKAGE_DIR}/fake.py", "exec")
    namespace = {}
    exec(source, namespace)
    assert device_less_factory_calls(monkeypatch, namespace["make"]) == ["fake.py:3 torch.ones"]
