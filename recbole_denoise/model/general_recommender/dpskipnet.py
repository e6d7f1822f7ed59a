"""
DPSkipNet
################################################
Reference:
    "Leveraging Fine-Grained Skip Behaviors for Micro-Video Recommendation" in AAAI 2025
    (dual-level positive graphs; the authors' code names the model DPSkipNet).

Reference code:
    https://github.com/tkdgur658/DualSkipNet

The paper numbers no equations; the docstrings name its subsections: "Dual-Level
Positive Graph Construction", "Dual-Path Positive Graph Learning", "Preference
Prediction Layer", "BPR Loss with Highly/Less Positive and Negative Samples", "BCE Loss
for Supervised Learning", "Combined Loss". Where the public code differs (it propagates
both paths over the highly-positive user matrix and the less-positive item matrix,
fuses with learned softmax weights, and adds BPR and BCE unweighted), this follows
the paper.
"""

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from recbole_denoise.data.watch_time import HIGHLY_POSITIVE, LESS_POSITIVE, NEGATIVE
from recbole_denoise.data.watch_time_dataset import FULL_WATCH_FIELD, SKIP_LEVEL_FIELD, WatchTimeDataset
from recbole_denoise.model.layers import take_rows

GRAPHS = ("dual", "single", "high")
BPR_NEGATIVES = ("skips", "unseen")


class DPSkipNet(GeneralRecommender):
    r"""Dual-level positive graphs learned from skip behaviour.

    Views are highly positive (watched to the end), less positive (skipped after
    ``quick_skip_seconds``) or negative (quick skips). Each positive level has its own
    user-video graph with LightGCN's symmetric normalisation :math:`\tilde R`; per graph
    :math:`H_u = \sigma(\tilde R H_v^{(0)} W^{(1)})`,
    :math:`H_v = \sigma(\tilde R^T H_u W^{(2)})` ("Dual-Path Positive Graph Learning");
    the two are averaged, and the score is
    :math:`\hat z_{uv} = W^{(2)} \sigma(W^{(1)} [h_u, h_v])` ("Preference Prediction
    Layer"). Negatives never enter a graph: only the loss
    :math:`\lambda \frac12 (BPR_{h>l} + BPR_{h>n}) + (1-\lambda) BCE(\text{full watch})`.

    Ablations: ``graphs: single`` (all views in one graph), ``graphs: high`` (highly
    positive only), ``bpr_negatives: unseen`` (BPR against unseen videos, not quick skips).
    """

    input_type = InputType.POINTWISE
    dataset_class = WatchTimeDataset

    def __init__(self, config, dataset):
        super(DPSkipNet, self).__init__(config, dataset)

        # load parameters info
        self.embedding_size = config["embedding_size"]  # d (paper: 128)
        self.bpr_weight = config["bpr_weight"]  # lambda of the combined loss (paper: 0.5)
        self.graph_mode = config["graphs"]  # dual | single | high
        self.bpr_negatives = config["bpr_negatives"]  # skips | unseen
        if self.graph_mode not in GRAPHS or self.bpr_negatives not in BPR_NEGATIVES:
            raise ValueError(f"DPSkipNet: graphs must be one of {GRAPHS} and bpr_negatives one of "
                             f"{BPR_NEGATIVES}; got {self.graph_mode!r}, {self.bpr_negatives!r}")

        # training views by level: sampling pools for the BPR triples
        self.level_graphs = {
            HIGHLY_POSITIVE: dataset.high_positive_graph().to(self.device),
            LESS_POSITIVE: dataset.less_positive_graph().to(self.device),
            NEGATIVE: dataset.quick_skip_graph().to(self.device),
        }
        self.graphs = self._propagation_graphs(dataset)
        self.graph_norms = [graph.symmetric_norm() for graph in self.graphs]

        # define layers and loss
        self.video_embedding = nn.Embedding(self.n_items, self.embedding_size)  # H_v^(0)
        self.user_weights = nn.ModuleList(nn.Linear(self.embedding_size, self.embedding_size, bias=False)
                                          for _ in self.graphs)
        self.video_weights = nn.ModuleList(nn.Linear(self.embedding_size, self.embedding_size, bias=False)
                                           for _ in self.graphs)
        self.predictor = nn.Sequential(
            nn.Linear(2 * self.embedding_size, self.embedding_size), nn.ReLU(),
            nn.Linear(self.embedding_size, 1),
        )

        # parameters initialization
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
        self.restore_user_e = None
        self.restore_item_e = None
        self.other_parameter_name = ["restore_user_e", "restore_item_e"]

    def _propagation_graphs(self, dataset):
        if self.graph_mode == "dual":
            return [self.level_graphs[HIGHLY_POSITIVE], self.level_graphs[LESS_POSITIVE]]
        if self.graph_mode == "high":
            return [self.level_graphs[HIGHLY_POSITIVE]]
        return [dataset.all_interaction_graph().to(self.device)]

    def forward(self):
        """User and video representations ``[n_users, d]``, ``[n_items, d]``: the mean
        over graphs of one user step and one video step of propagation."""
        users, videos = [], []
        base = self.video_embedding.weight
        for graph, norm, user_w, video_w in zip(self.graphs, self.graph_norms, self.user_weights, self.video_weights):
            user_h = F.relu(graph.to_rows(norm, user_w(base)))
            videos.append(F.relu(graph.to_cols(norm, video_w(user_h))))
            users.append(user_h)
        return torch.stack(users).mean(0), torch.stack(videos).mean(0)

    def score(self, user_e, video_e):
        """:math:`\\hat z` for aligned rows of user and video representations."""
        return self.predictor(torch.cat([user_e, video_e], -1)).squeeze(-1)

    def _sample(self, level, users):
        """One training video of ``level`` per user (uniform), and a mask of users
        that have one."""
        graph = self.level_graphs[level]
        start = graph.row_pointer[users]
        count = graph.row_pointer[users + 1] - start
        offset = (torch.rand(len(users), device=self.device) * count).long()
        has = count > 0
        index = torch.where(has, start + offset, torch.zeros_like(start))
        videos = graph.cols[index] if graph.num_edges else torch.zeros_like(users)
        return videos, has

    def bpr_triples(self, users, items, levels):
        """(high, less, negative) videos per training row: the row's own video at its
        level, the other two sampled from the user's training views ("BPR Loss with
        Highly/Less Positive and Negative Samples"); masks where a level is empty."""
        triple, present = [], []
        for level in (HIGHLY_POSITIVE, LESS_POSITIVE, NEGATIVE):
            sampled, has = self._sample(level, users)
            own = levels == level
            triple.append(torch.where(own, items, sampled))
            present.append(own | has)
        if self.bpr_negatives == "unseen":  # ablation: any random video as the negative
            triple[2] = torch.randint(1, self.n_items, users.shape, device=self.device)
            present[2] = torch.ones_like(present[2])
        return triple, present

    def calculate_loss(self, interaction):
        self.restore_user_e, self.restore_item_e = None, None
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        levels = interaction[SKIP_LEVEL_FIELD].long()
        labels = interaction[FULL_WATCH_FIELD].float()
        user_all, video_all = self.forward()
        user_e = take_rows(user_all, users)

        (high, less, negative), (has_high, has_less, has_negative) = self.bpr_triples(users, items, levels)
        high_z, less_z, negative_z = (self.score(user_e, take_rows(video_all, v)) for v in (high, less, negative))
        bpr_terms = []
        for lower_z, mask in ((less_z, has_high & has_less), (negative_z, has_high & has_negative)):
            if mask.any():
                bpr_terms.append(-F.logsigmoid(high_z[mask] - lower_z[mask]).mean())
        bpr = torch.stack(bpr_terms).mean() if bpr_terms else high_z.sum() * 0.0
        bce = F.binary_cross_entropy_with_logits(self.score(user_e, take_rows(video_all, items)), labels)
        return self.bpr_weight * bpr + (1 - self.bpr_weight) * bce

    def predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        return torch.sigmoid(self.score(self.restore_user_e[users], self.restore_item_e[items]))

    def full_sort_predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        users = interaction[self.USER_ID]
        n_users, n_items = len(users), self.n_items
        user_e = self.restore_user_e[users].repeat_interleave(n_items, 0)
        video_e = self.restore_item_e.repeat(n_users, 1)
        return torch.sigmoid(self.score(user_e, video_e))
