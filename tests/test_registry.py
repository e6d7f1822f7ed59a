"""The package looks in itself first and falls back to RecBole."""

import pytest
from recbole.model.general_recommender import BPR as RecBoleBPR
from recbole.model.general_recommender import CDAE as RecBoleCDAE
from recbole.model.general_recommender import NeuMF as RecBoleNeuMF
from recbole.trainer import Trainer as RecBoleTrainer
from recbole.utils import ModelType

from recbole_denoise.config import Config
from recbole_denoise.model.general_recommender.cdae import CDAE
from recbole_denoise.model.general_recommender.gmf import GMF
from recbole_denoise.model.general_recommender.neumf import NeuMF
from recbole_denoise.trainer import DenoiseTrainer, SafeCheckpointMixin
from recbole_denoise.utils import get_model, get_trainer, properties_dir


def test_get_model_prefers_the_package_then_recbole():
    assert get_model("GMF") is GMF
    assert get_model("CDAE") is CDAE and CDAE is not RecBoleCDAE
    assert get_model("BPR") is RecBoleBPR
    assert get_model("NeuMF") is NeuMF and issubclass(NeuMF, RecBoleNeuMF)
    with pytest.raises(ValueError, match="NoSuchModel"):
        get_model("NoSuchModel")


def test_an_unknown_model_name_lists_the_models_that_exist_and_the_closest():
    with pytest.raises(ValueError) as error:
        get_model("NoSuchModel")
    message = str(error.value)
    assert "No module named" not in message  # RecBole's lookup imported its lightgbm wrapper
    listed = message.split("recbole_denoise models: ", 1)[1].splitlines()[0].split(", ")
    assert listed == sorted(listed)
    assert {"CDAE", "DPSkipNet", "FRAME", "GMF", "GRCN", "GlobalRate", "UserRate", "ItemRate"} <= set(listed)
    assert "RecBole general recommenders: " in message and "LightGCN" in message
    assert "RecBole sequential recommenders: " in message and "SASRec" in message
    # a module that exists under another spelling of the class
    with pytest.raises(ValueError, match=r"\[gmf\] is neither .*; did you mean GMF"):
        get_model("gmf")
    with pytest.raises(ValueError, match=r"did you mean LightGCN"):
        get_model("LightGNC")


def test_get_trainer_picks_denoise_trainer_for_adt_losses(quiet_config):
    config = Config(model="GMF", dataset="ml-100k", config_dict=quiet_config(loss_type="TCE"))
    assert get_trainer(ModelType.GENERAL, "GMF", config) is DenoiseTrainer
    bpr_config = Config(model="BPR", dataset="ml-100k", config_dict=quiet_config())
    trainer = get_trainer(ModelType.GENERAL, "BPR", bpr_config)
    assert issubclass(trainer, RecBoleTrainer) and issubclass(trainer, SafeCheckpointMixin)
    assert trainer is not DenoiseTrainer
    # a RecBole trainer chosen by name keeps its own class, with safe checkpoints mixed in
    from recbole.trainer import RecVAETrainer
    recvae = get_trainer(ModelType.GENERAL, "RecVAE", None)
    assert issubclass(recvae, RecVAETrainer) and issubclass(recvae, SafeCheckpointMixin)


def test_config_layers_package_yaml_over_recbole(quiet_config):
    config = Config(model="NeuMF", dataset="ml-100k", config_dict=quiet_config())
    # properties/model/NeuMF.yaml overrides RecBole's NeuMF.yaml (64 -> 32)
    assert config["mf_embedding_size"] == 32
    assert config["loss_type"] == "CE"
    # properties/dataset/ml-100k.yaml adds the noise rule, RecBole's yaml stays underneath
    assert config["clean_threshold"] == {"rating": 3}
    assert config["load_col"]["inter"] == ["user_id", "item_id", "rating", "timestamp"]
    # user input wins over every yaml
    config = Config(model="NeuMF", dataset="ml-100k", config_dict=quiet_config(mf_embedding_size=8))
    assert config["mf_embedding_size"] == 8


def test_converted_dataset_yaml_is_loaded(tmp_path, quiet_config):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.inter").write_text("user_id:token\titem_id:token\nu1\ti1\n")
    (folder / "toy.yaml").write_text("topk: [3, 20]\nvalid_metric: Recall@20\n")
    config = Config(model="BPR", dataset="toy", config_dict=quiet_config(data_path=str(tmp_path)))
    assert config["topk"] == [3, 20]
    assert config["data_path"] == str(folder)


def test_properties_are_found():
    assert (properties_dir() / "overall.yaml").is_file()
    assert (properties_dir() / "model" / "GMF.yaml").is_file()
