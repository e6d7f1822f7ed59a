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
the paper. Like the code (``models/DPSkipNet.py``, ``DPSkipNet_Dataset``), the
"unseen" negatives of the ablation exclude every training view of the user.

``duration_aware`` is not in the paper: an option against the duration bias of the
own-items protocol (a short video is far easier to watch to the end; see DVR, Zheng
et al. 2022, and D2Q, KDD 2022, for duration buckets).
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
LEARNED, AUTO = "none", "auto"  # video_features values besides a modality name
AUTO_MODALITY = "visual"  # the modality that video_features auto uses when present


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
    Pointwise training rows; each row's BPR triple is sampled by the model.

    :math:`H_v^{(0)}` is "derived from the visual features of the videos": here
    :math:`H_v^{(0)} = X_v W_x`, the dataset's item modality (``video_features``,
    ``visual`` by default) projected to ``d``; a learned embedding where a dataset has
    none (the paper's KuaiRand-Pure setting, Section "Datasets") or with
    ``video_features: none``.

    ``duration_aware: True`` (not in the paper) concatenates a learned embedding
    :math:`e_{b(v)}` of the video's duration bucket to the prediction layer's input,
    :math:`W^{(2)} \sigma(W^{(1)} [h_u, h_v, e_{b(v)}])`, buckets from
    :meth:`WatchTimeDataset.duration_buckets`. Not added to :math:`H_v^{(0)}`:
    :math:`h_v` has no self term, so it would reach a video's score only through its
    training viewers, and never for a video without any.

    Ablations: ``graphs: single`` (all views in one graph), ``graphs: high`` (highly
    positive only), ``bpr_negatives: unseen`` (BPR against videos the user has not
    viewed in training, not quick skips).
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
        self.video_features = config["video_features"]  # auto | none | an item modality (visual)
        self.duration_aware = config["duration_aware"]  # duration bucket into the prediction layer
        self.n_duration_buckets = config["duration_buckets"]  # equal-frequency buckets of training durations
        if self.graph_mode not in GRAPHS:
            raise ValueError(f"DPSkipNet: graphs = {self.graph_mode!r}; expected one of {GRAPHS}")
        if self.bpr_negatives not in BPR_NEGATIVES:
            raise ValueError(f"DPSkipNet: bpr_negatives = {self.bpr_negatives!r}; expected one of {BPR_NEGATIVES}")
        if not isinstance(self.duration_aware, bool):
            raise ValueError(f"DPSkipNet: duration_aware = {self.duration_aware!r}; expected True or False")
        features = self._video_feature_matrix(dataset)  # X_v, or None for a learned H_v^(0)

        # training views by level (index = skip level): sampling pools for the BPR triples
        by_level = {HIGHLY_POSITIVE: dataset.high_positive_graph(), LESS_POSITIVE: dataset.less_positive_graph(),
                    NEGATIVE: dataset.quick_skip_graph()}
        self.level_graphs = nn.ModuleList(by_level[level].to(self.device) for level in range(len(by_level)))
        self.graphs = nn.ModuleList(self._propagation_graphs(dataset))
        for index, graph in enumerate(self.graphs):  # R~ edge weights, rebuilt from the data, not saved
            self.register_buffer(f"graph_norm_{index}", graph.symmetric_norm(), persistent=False)
        if self.bpr_negatives == "unseen":
            self._register_training_views(dataset.all_interaction_graph())

        # define layers and loss
        d = self.embedding_size
        if features is None:
            self.video_embedding = nn.Embedding(self.n_items, d)  # learned H_v^(0)
        else:
            # data, not learned: kept out of the state dict (and of every checkpoint)
            self.register_buffer("video_feature", features.float().to(self.device), persistent=False)
            self.video_projection = nn.Linear(features.shape[1], d, bias=False)  # W_x
        if self.duration_aware:
            self.register_buffer("video_bucket", dataset.duration_buckets(self.n_duration_buckets).to(self.device),
                                 persistent=False)
            self.duration_embedding = nn.Embedding(self.n_duration_buckets + 1, d)  # e_b, b = 0: no duration
        self.user_weights = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in self.graphs)  # W^(1) per graph
        self.video_weights = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in self.graphs)  # W^(2) per graph
        self.predictor = nn.Sequential(
            nn.Linear((3 if self.duration_aware else 2) * d, d), nn.ReLU(),
            nn.Linear(d, 1),
        )

        # parameters initialization
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
        self.restore_user_e = None
        self.restore_item_e = None
        self.other_parameter_name = ["restore_user_e", "restore_item_e"]

    def _video_feature_matrix(self, dataset):
        """``X_v`` ``[n_items, f]`` named by ``video_features``, or ``None`` for a learned
        :math:`H_v^{(0)}`: ``none`` asks for that, ``auto`` falls back to it (with a
        warning) on a dataset without a ``visual`` modality, a named modality the
        dataset lacks is an error."""
        available = getattr(dataset, "item_features", {})
        if self.video_features == LEARNED:
            return None
        if self.video_features == AUTO:
            if AUTO_MODALITY in available:
                return available[AUTO_MODALITY]
            self.logger.warning(
                f"DPSkipNet: video_features = auto, but dataset [{dataset.dataset_name}] has no item modality "
                f"[{AUTO_MODALITY}]; H_v^(0) is a learned embedding (the paper's KuaiRand setting). Set "
                f"video_features: none to choose this explicitly")
            return None
        if self.video_features not in available:
            raise ValueError(
                f"DPSkipNet: video_features = {self.video_features!r}, but dataset [{dataset.dataset_name}] has no "
                f"such item modality (it has {sorted(available)}); expected {AUTO!r}, {LEARNED!r} or one of "
                f"the dataset's item_modalities with a feature file")
        return available[self.video_features]

    def _propagation_graphs(self, dataset):
        if self.graph_mode == "dual":
            return [self.level_graphs[HIGHLY_POSITIVE], self.level_graphs[LESS_POSITIVE]]
        if self.graph_mode == "high":
            return [self.level_graphs[HIGHLY_POSITIVE]]
        return [dataset.all_interaction_graph().to(self.device)]

    @property
    def graph_norms(self):
        """LightGCN's :math:`1 / \\sqrt{d_u d_v}` per edge of each propagation graph."""
        return [getattr(self, f"graph_norm_{index}") for index in range(len(self.graphs))]

    def _register_training_views(self, graph):
        """Buffers for the unseen-video sampler: every training view as the sorted key
        ``user * n_items + video`` (a graph's edges are sorted by row, then column), and
        each user's number of distinct viewed videos."""
        self.register_buffer("view_keys", (graph.rows * self.n_items + graph.cols).to(self.device),
                             persistent=False)
        self.register_buffer("views_per_user", graph.row_degree().to(self.device), persistent=False)

    # ------------------------------------------------------------------ representations

    def initial_videos(self):
        """:math:`H_v^{(0)}` ``[n_items, d]``: :math:`X_v W_x`, or the learned embedding."""
        if hasattr(self, "video_embedding"):
            return self.video_embedding.weight
        return self.video_projection(self.video_feature)

    def forward(self):
        """User and video representations ``[n_users, d]``, ``[n_items, d]``: the mean
        over graphs of one user step and one video step of propagation."""
        users, videos = [], []
        base = self.initial_videos()
        for graph, norm, user_w, video_w in zip(self.graphs, self.graph_norms, self.user_weights, self.video_weights):
            user_h = F.relu(graph.to_rows(norm, user_w(base)))
            videos.append(F.relu(graph.to_cols(norm, video_w(user_h))))
            users.append(user_h)
        return torch.stack(users).mean(0), torch.stack(videos).mean(0)

    def score(self, user_e, video_e, videos):
        """:math:`\\hat z` for aligned rows of user and video representations of the
        videos ``videos`` (their ids: the duration bucket with ``duration_aware``)."""
        parts = [user_e, video_e]
        if self.duration_aware:
            parts.append(take_rows(self.duration_embedding.weight, self.video_bucket[videos]))
        return self.predictor(torch.cat(parts, -1)).squeeze(-1)

    # ------------------------------------------------------------------ sampling and loss

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

    def seen_in_training(self, users, videos):
        """Bool per pair: did ``users[i]`` view ``videos[i]`` in training (any level)?
        Binary search in the sorted view keys."""
        keys = users * self.n_items + videos
        if self.view_keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        position = torch.searchsorted(self.view_keys, keys).clamp(max=self.view_keys.numel() - 1)
        return self.view_keys[position] == keys

    def sample_unseen(self, users):
        """One video per user, uniform over the videos she has not viewed in training,
        by rejection sampling; and a mask of users that have one (not all videos seen)."""
        has = self.views_per_user[users] < self.n_items - 1
        videos = torch.zeros_like(users)
        pending = has.nonzero().squeeze(1)
        while pending.numel():
            draw = torch.randint(1, self.n_items, pending.shape, device=self.device)
            fresh = ~self.seen_in_training(users[pending], draw)
            videos[pending[fresh]] = draw[fresh]
            pending = pending[~fresh]
        return videos, has

    def bpr_triples(self, users, items, levels):
        """(high, less, negative) videos per training row: the row's own video at its
        level, the other two sampled from the user's training views ("BPR Loss with
        Highly/Less Positive and Negative Samples"); masks where a level is empty.
        With ``bpr_negatives: unseen`` the negative is a video the user has not viewed
        in training (the "unseen interactions" of Figure 5)."""
        triple, present = [], []
        for level in (HIGHLY_POSITIVE, LESS_POSITIVE, NEGATIVE):
            sampled, has = self._sample(level, users)
            own = levels == level
            triple.append(torch.where(own, items, sampled))
            present.append(own | has)
        if self.bpr_negatives == "unseen":
            triple[2], present[2] = self.sample_unseen(users)
        return triple, present

    def combined_loss(self, interaction, triples):
        """"Combined Loss": :math:`\\lambda \\frac12 (BPR_{h>l} + BPR_{h>n}) + (1-\\lambda)
        BCE`, the BCE of each row's full-watch label, the BPR terms over the given
        ``bpr_triples`` (each averaged over the rows where both of its videos exist)."""
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        labels = interaction[FULL_WATCH_FIELD].float()
        user_all, video_all = self.forward()
        user_e = take_rows(user_all, users)

        (high, less, negative), (has_high, has_less, has_negative) = triples
        high_z, less_z, negative_z = (self.score(user_e, take_rows(video_all, v), v) for v in (high, less, negative))
        bpr_terms = []
        for lower_z, mask in ((less_z, has_high & has_less), (negative_z, has_high & has_negative)):
            if mask.any():
                bpr_terms.append(-F.logsigmoid(high_z[mask] - lower_z[mask]).mean())
        bpr = torch.stack(bpr_terms).mean() if bpr_terms else high_z.sum() * 0.0
        bce = F.binary_cross_entropy_with_logits(self.score(user_e, take_rows(video_all, items), items), labels)
        return self.bpr_weight * bpr + (1 - self.bpr_weight) * bce

    def calculate_loss(self, interaction):
        self.restore_user_e, self.restore_item_e = None, None
        levels = interaction[SKIP_LEVEL_FIELD].long()
        triples = self.bpr_triples(interaction[self.USER_ID], interaction[self.ITEM_ID], levels)
        return self.combined_loss(interaction, triples)

    # ------------------------------------------------------------------ prediction

    def predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        return torch.sigmoid(self.score(self.restore_user_e[users], self.restore_item_e[items], items))

    def full_sort_predict(self, interaction):
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        users = interaction[self.USER_ID]
        n_users, n_items = len(users), self.n_items
        user_e = self.restore_user_e[users].repeat_interleave(n_items, 0)
        video_e = self.restore_item_e.repeat(n_users, 1)
        videos = torch.arange(n_items, device=self.device).repeat(n_users)
        return torch.sigmoid(self.score(user_e, video_e, videos))
