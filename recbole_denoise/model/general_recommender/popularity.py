"""
Popularity
################################################
The popularity baseline of every accuracy table: each item's number of training
interactions, counted once from the training split.

RecBole's own ``Pop`` counts in ``calculate_loss`` with ``cnt[item] = cnt[item] + 1``,
which adds one per batch however often an item repeats in it, and also counts the
sampled negatives of its pointwise loader: with large batches most items tie. Measured
on ml-100k-mm (train_batch_size 4096): Recall@10 0.036 for ``Pop``; see
docs/benchmarks.md for this model's.
"""

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType


class Popularity(GeneralRecommender):
    r"""Score of item :math:`i`: its training interaction count :math:`n_i` divided by
    the largest count. Nothing is learned; one pass of the trainer, then evaluation."""

    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL

    def __init__(self, config, dataset):
        super(Popularity, self).__init__(config, dataset)

        counts = torch.bincount(dataset.inter_feat[self.ITEM_ID].long(), minlength=self.n_items).float()
        self.register_buffer("popularity", (counts / counts.max().clamp(min=1)).to(self.device))
        self.fake_loss = torch.nn.Parameter(torch.zeros(1))  # RecBole's trainer needs a parameter

    def calculate_loss(self, interaction):
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction):
        return self.popularity[interaction[self.ITEM_ID]]

    def full_sort_predict(self, interaction):
        return self.popularity.repeat(len(interaction[self.USER_ID]))
