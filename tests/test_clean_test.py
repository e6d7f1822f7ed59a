"""The ADT protocol: train and valid keep false positives, test keeps clean ones."""

from recbole.utils import FeatureSource, init_seed

from recbole_denoise.config import Config
from recbole_denoise.data.dataset import DenoiseDataset
from recbole_denoise.utils import create_dataset, data_preparation


def prepare(quiet_config, **overrides):
    config = Config(model="GMF", dataset="ml-100k", config_dict=quiet_config(**overrides))
    init_seed(config["seed"], config["reproducibility"])  # the random split is seeded
    dataset = create_dataset(config)
    return dataset, data_preparation(config, dataset)


def _false_positives(split):
    return int((split._dataset.inter_feat["clean"] == 0).sum())


def test_ml100k_flag_is_rating_at_least_three(quiet_config):
    dataset, _ = prepare(quiet_config)
    assert isinstance(dataset, DenoiseDataset)
    # ml-100k: ratings 1 and 2 are 6110 + 11370 = 17480 of 100000 interactions
    assert int((dataset.inter_feat["clean"] == 0).sum()) == 17480
    # ground truth, not a feature: hidden from the fields a model embeds
    assert "clean" not in dataset.fields(source=list(FeatureSource))
    assert "clean" in dataset.fields()
    assert "rating" not in dataset.fields(source=list(FeatureSource))  # clean_threshold source


def test_test_split_keeps_only_clean_while_train_and_valid_keep_all(quiet_config):
    _, (train, valid, test) = prepare(quiet_config)
    _, (_, _, full_test) = prepare(quiet_config, clean_test=False)
    assert _false_positives(train) > 10000
    assert _false_positives(valid) > 1000
    assert _false_positives(test) == 0
    removed = _false_positives(full_test)
    assert removed > 1000
    assert len(test._dataset) == len(full_test._dataset) - removed


def test_noisy_test_items_are_ranked_unless_masked(quiet_config):
    _, (_, _, test_default) = prepare(quiet_config)
    _, (_, _, test_masked) = prepare(quiet_config, clean_test_mask_noisy=True)
    _, (_, _, full_test) = prepare(quiet_config, clean_test=False)

    def masked_items(loader):
        return sum(len(items) for items in loader.uid2history_item if items is not None)

    # masking hides exactly the removed false positives of the users still tested
    inter = full_test._dataset.inter_feat
    tested_users = set(test_default._dataset.inter_feat["user_id"].tolist())
    noisy_of_tested = sum(
        1 for user, clean in zip(inter["user_id"].tolist(), inter["clean"].tolist())
        if clean == 0 and user in tested_users
    )
    assert noisy_of_tested > 1000
    assert masked_items(test_masked) - masked_items(test_default) == noisy_of_tested
