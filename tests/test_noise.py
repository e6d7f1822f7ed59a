"""Injected training noise, and GRCN's weights on it."""

import torch
from recbole.utils import init_seed

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare
from recbole_denoise.utils import create_dataset, data_preparation


def _splits(root, dataset, model="BPR", **config):
    config = Config(model=model, dataset=dataset, config_dict=dict(
        {"state": "ERROR", "data_path": root, "show_progress": False, "use_gpu": False}, **config))
    init_seed(config["seed"], True)
    return config, data_preparation(config, create_dataset(config))


def _pairs(split):
    inter = split._dataset.inter_feat
    return list(zip(inter["user_id"].tolist(), inter["item_id"].tolist()))


def test_injected_noise_goes_to_training_only_and_is_flagged(multimodal_dataset):
    _, (train, valid, test) = _splits(multimodal_dataset, "mm")
    _, (noisy_train, noisy_valid, noisy_test) = _splits(multimodal_dataset, "mm", train_noise_ratio=0.2)
    assert len(noisy_train._dataset) == len(train._dataset) + round(0.2 * len(train._dataset))
    assert _pairs(noisy_valid) == _pairs(valid) and _pairs(noisy_test) == _pairs(test)
    flags = noisy_train._dataset.inter_feat["clean"]
    assert int((flags == 0).sum()) == round(0.2 * len(train._dataset))
    injected = {p for p, f in zip(_pairs(noisy_train), flags.tolist()) if f == 0}
    original = set(_pairs(train)) | set(_pairs(valid)) | set(_pairs(test))
    assert not injected & original  # only never-seen pairs are injected
    assert set(_pairs(train)) <= set(_pairs(noisy_train))


def test_grcn_weights_injected_edges_lower(multimodal_dataset, tmp_path):
    config = Config(model="GRCN", dataset="mm", config_dict={
        "state": "ERROR", "data_path": multimodal_dataset, "show_progress": False, "use_gpu": False,
        "train_noise_ratio": 0.3, "epochs": 15, "learning_rate": 0.01, "checkpoint_dir": str(tmp_path)})
    init_seed(config["seed"], True)
    _, (train, valid, _), model, trainer = prepare(config)
    trainer.fit(train, valid, saved=False)
    weights = model.edge_weights()
    inter = train._dataset.inter_feat
    flag = {(u, i): f for u, i, f in zip(inter["user_id"].tolist(), inter["item_id"].tolist(),
                                          inter["clean"].tolist())}
    injected = torch.tensor([flag[(u, i)] == 0 for u, i in zip(weights["user"].tolist(), weights["item"].tolist())])
    for key in ("item_to_user", "user_to_item"):
        assert weights[key][injected].mean() < weights[key][~injected].mean()
