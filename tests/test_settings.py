"""Settings are checked when the config is built: a bad value is an error naming key,
value and what is expected; a key nothing reads is a WARNING naming the closest key."""

import logging
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml

from recbole_denoise.config import Config
from recbole_denoise.settings import (
    GENERAL_SETTINGS, MODEL_SETTINGS, SettingError, setting_problems, settings_for, static_known_keys,
)
from recbole_denoise.utils import bundled_dataset_dirs, properties_dir

ROOT_DIR = Path(__file__).resolve().parent.parent

# the type a yaml comment states, "(float) ...", and the kinds of the table it may mean
COMMENT_TYPE = re.compile(r"^(\w+)\s*:.*?#\s*\((\w+)")
KINDS_OF_TAG = {"int": {"int"}, "float": {"float"}, "str": {"str", "path"}, "bool": {"bool"},
                "list": {"list"}, "dict": {"dict"}}


def load_yaml(text):
    """As RecBole's ``Config`` loads its yaml files (``1e-5`` is a float there)."""
    return yaml.load(text, Loader=Config._build_yaml_loader(None)) or {}


def yaml_entries(path):
    """``{key: (value, type tag of its comment or None)}`` of a yaml file's top-level keys."""
    text = path.read_text(encoding="utf-8")
    values = load_yaml(text)
    tags = {match.group(1): match.group(2) for match in map(COMMENT_TYPE.match, text.splitlines()) if match}
    return {key: (value, tags.get(key)) for key, value in values.items()}


def yaml_files():
    props = properties_dir()
    files = [(None, props / "overall.yaml")]
    files += [(path.stem, path) for path in sorted((props / "model").glob("*.yaml"))]
    return files


@pytest.mark.parametrize("model, path", yaml_files(), ids=lambda item: getattr(item, "name", str(item)))
def test_every_yaml_key_is_in_the_table_with_the_type_its_comment_states(model, path):
    table = settings_for(model) if model else GENERAL_SETTINGS
    for key, (value, tag) in yaml_entries(path).items():
        assert key in table, f"{path.name}: {key} has no entry in recbole_denoise/settings.py"
        assert tag is not None, f"{path.name}: {key} has no (type) comment"
        assert table[key].kind in KINDS_OF_TAG[tag], f"{path.name}: {key} is ({tag}), the table says {table[key].kind}"
        assert table[key].accepts(value), f"{path.name}: the default {key}: {value!r} is refused"


def test_the_model_tables_name_models_that_have_a_yaml():
    assert set(MODEL_SETTINGS) <= {path.stem for path in (properties_dir() / "model").glob("*.yaml")}


def test_the_bundled_datasets_yaml_values_are_accepted():
    for root in bundled_dataset_dirs():
        for path in root.glob("*/*.yaml"):
            values = load_yaml(path.read_text(encoding="utf-8"))
            for model in ("FRAME", "DPSkipNet", "GRCN", "BPR"):
                assert setting_problems(values, model) == [], path


def test_the_benchmarks_configurations_are_accepted():
    """Every run of every spec in benchmarks/specs/, and the clip-truth script's variants."""
    from benchmarks import frame_clip_truth
    from recbole_denoise.group import load_spec

    specs = sorted((ROOT_DIR / "benchmarks" / "specs").glob("*.yaml"))
    assert len(specs) >= 5
    for path in specs:
        for run in load_spec(str(path)).runs:
            config = {key: value for key, value in run.config_dict.items() if key != "data_path"}
            assert setting_problems(config, run.model) == [], f"{path.name}: {run.label}"
    base = {"epochs": 200, "state": "ERROR", "show_progress": False, "checkpoint_dir": "saved", "seed": 2020}
    for label, overrides in frame_clip_truth.VARIANTS:
        assert setting_problems(dict(base, **overrides), "FRAME") == [], label


@pytest.fixture
def command_line(monkeypatch):
    """Build a Config as the command line ``--key=value ...`` would (RecBole reads
    ``sys.argv`` and ``eval``s each value, keeping a string when that fails)."""

    def build(*args, model="GMF"):
        monkeypatch.setattr(sys, "argv", ["run_recbole_denoise.py", *args, "--state=ERROR", "--use_gpu=False"])
        return Config(model=model, dataset="ml-100k")

    return build


@pytest.mark.parametrize("arg, expected", [
    ("--epochs=-1", "epochs must be an integer >= 1, got -1 (from the command line)"),
    ("--epochs=abc", "epochs must be an integer >= 1, got 'abc' (from the command line)"),
    ("--drop_rate=abc", "drop_rate must be a number in [0, 1), got 'abc' (from the command line)"),
    ("--beta=abc", "beta must be a number >= 0, got 'abc' (from the command line)"),
    ("--n_clips=abc", "n_clips must be an integer >= 1, got 'abc' (from the command line)"),
    ("--train_batch_size=0", "train_batch_size must be an integer >= 1, got 0"),
    ("--learning_rate=0", "learning_rate must be a number > 0, got 0"),
    ("--topk=[10,0]", "topk must be an integer >= 1 or a list of integers >= 1, got [10, 0]"),
    ("--clean_test=yes", "clean_test must be True or False, got 'yes'"),
])
def test_a_bad_value_on_the_command_line_is_an_error_naming_key_value_and_expectation(command_line, arg, expected):
    with pytest.raises(SettingError) as error:
        command_line(arg)
    assert expected in str(error.value)


def test_an_unknown_loss_type_is_an_error_listing_the_allowed_ones(command_line):
    with pytest.raises(SettingError, match=r"loss_type must be one of 'CE', 'TCE', 'RCE', got 'XYZ'"):
        command_line("--loss_type=XYZ")
    # a RecBole model takes RecBole's loss types and the ADT ones
    with pytest.raises(SettingError, match=r"loss_type must be one of 'CE', 'BPR', .*'TBPR', 'RBPR'.*got 'XYZ'"):
        command_line("--loss_type=XYZ", model="BPR")
    assert command_line("--loss_type=RBPR", model="BPR")["loss_type"] == "RBPR"


def test_every_bad_value_is_named_at_once_with_where_it_came_from(quiet_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_denoise.py", "--beta=-1"])
    with pytest.raises(SettingError) as error:
        Config(model="GMF", dataset="ml-100k", config_dict=quiet_config(epochs=2.5, hid_activation="bogus"))
    message = str(error.value)
    assert "2 invalid settings for GMF" in message
    assert "epochs must be an integer >= 1, got 2.5 (from the config dict)" in message
    assert "beta must be a number >= 0, got -1 (from the command line)" in message
    # hid_activation is CDAE's key: GMF does not read it, so it is not checked for GMF
    assert "hid_activation" not in message


def test_model_keys_are_checked_against_the_running_models_table(quiet_config):
    with pytest.raises(SettingError, match="mlp_hidden_size must be a list of integers >= 1, got 64"):
        Config(model="NeuMF", dataset="ml-100k", config_dict=quiet_config(mlp_hidden_size=64))
    with pytest.raises(SettingError, match="fusion must be one of 'confid', 'mean', 'max', got 'sum'"):
        Config(model="GRCN", dataset="ml-100k-mm", config_dict=quiet_config(fusion="sum"))


def test_a_misspelt_key_is_a_warning_naming_the_closest_known_key(command_line, caplog):
    with caplog.at_level(logging.WARNING):
        config = command_line("--drop_rat=0.1")
    [record] = [r for r in caplog.records if "drop_rat " in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "setting drop_rat = 0.1 is not read" in record.getMessage() and "did you mean drop_rate?" in record.getMessage()
    assert config["drop_rate"] == 0.2  # unchanged


def test_known_keys_raise_no_warning(command_line, caplog):
    # RecBole's (overall, model, dataset yaml), the package's, and one read only in code
    with caplog.at_level(logging.WARNING):
        command_line("--epochs=3", "--drop_rate=0.1", "--n_layers=2", "--threshold=None", "--simulation=None",
                     "--params_file=space.hyper", "--max_evals=3")  # the last two: recbole_denoise.hyper's options
    assert [r.getMessage() for r in caplog.records if "is not read" in r.getMessage()] == []


def test_the_known_keys_cover_what_the_package_reads_in_code():
    assert {"simulation", "own_items_ties", "own_items_definition", "clean_field"} <= static_known_keys()


def test_a_converted_datasets_yaml_keys_are_known(tmp_path, quiet_config, caplog):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.inter").write_text("user_id:token\titem_id:token\nu1\ti1\n")
    (folder / "toy.yaml").write_text("my_converter_note: 3\n")
    with caplog.at_level(logging.WARNING):
        Config(model="BPR", dataset="toy", config_dict=quiet_config(data_path=str(tmp_path), my_converter_note=4))
    assert [r.getMessage() for r in caplog.records if "is not read" in r.getMessage()] == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_use_gpu_on_a_machine_without_one_is_a_warning_and_the_config_says_cpu(quiet_config, caplog):
    with caplog.at_level(logging.WARNING):
        config = Config(model="GMF", dataset="ml-100k", config_dict=quiet_config(use_gpu=True))
    assert config["device"].type == "cpu" and config["use_gpu"] is False
    assert any("use_gpu = True, but no CUDA device" in r.getMessage() for r in caplog.records)
    # asked for nothing: no warning, and still the truth
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        config = Config(model="GMF", dataset="ml-100k", config_dict={k: v for k, v in quiet_config().items()
                                                                     if k != "use_gpu"})
    assert config["use_gpu"] is False
    assert not any("use_gpu" in r.getMessage() for r in caplog.records)


def test_config_leaves_the_callers_dict_as_written():
    # RecBole completes train_neg_sample_args in place; a group rerun compares the spec's
    # settings with the saved ones, so they must stay what the caller wrote
    settings = {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "use_gpu": False}
    config = Config(model="BPR", dataset="ml-100k", config_dict=settings)
    assert settings == {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "use_gpu": False}
    assert config["train_neg_sample_args"]["sample_num"] == 1
    assert {"alpha", "dynamic", "candidate_num"} <= set(config["train_neg_sample_args"])
