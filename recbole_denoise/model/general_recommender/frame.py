"""
FRAME
################################################
Reference:
    Hao Shang et al. "Learning Fine-grained User Interests for Micro-video Recommendation"
    in SIGIR 2023.

Reference code:
    https://github.com/tsinghua-fib-lab/FRAME

Equation numbers are the paper's. Eq. (1), the ResNet-50 frame encoder averaged per
clip, runs before the model: clip features come with the dataset (``clip_features``).
Where the public code differs, this follows the
paper: the code keeps the clip features as a learnable parameter, scores with the
positive tower only and drops ``H_c^(0)`` from eq. (10); it also holds the user-clip
matrices dense (about 12 GB at MVA scale), where here they are sparse.

``duration_aware`` is not in the paper: an option against the duration bias of the
own-items protocol (a short video is far easier to watch to the end; DVR, Zheng et al.,
MM 2022, and D2Q, KDD 2022, bucket durations the same way).
"""

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from recbole_denoise.data import watch_time
from recbole_denoise.data.watch_time_dataset import POSITIVE_CLIPS_FIELD, WatchTimeDataset
from recbole_denoise.model.layers import take_rows

VISUAL_FEATURES = ("auto", "enhanced", "original", "none")


class FRAME(GeneralRecommender):
    r"""Fine-grained user interests over user-clip graphs of watched and skipped clips.

    Each video is cut into ``N_c`` clips (``n_clips``); clip ``c`` of video ``v`` is node
    ``v * N_c + c``. Positive edges join a user to the clips she watched, negative edges
    to the clip during which she skipped (eq. 2-4), each graph with symmetric
    normalisation :math:`\tilde R` (eq. 5-6). Then

    - clip embeddings :math:`H_c^{(0)}`: enhanced visual features :math:`W_t f_c`
      (Section 3.1.2, ``visual_features: enhanced``), the original features
      :math:`f_c` (``original``, Table 5; then ``d`` is the feature size), or learnable
      embeddings (``none``); ``auto`` is ``enhanced`` on a dataset with clip features
      and ``none`` (with a WARNING) on one without, such as KuaiRand;
    - users: :math:`H_u^p = \sigma(\tilde R^p H_c^{(0)} W_p^{(1)})`, likewise
      :math:`H_u^n` (eq. 7); clips: :math:`H_c^{p(1)} = \sigma((\tilde R^p)^T H_u^p
      W_p^{(2)})`, likewise :math:`H_c^{n(1)}` (eq. 8), averaged (eq. 9);
      :math:`H_c = a_0 H_c^{(0)} + a_1 H_c^{(1)}` with learnable :math:`a_0, a_1` (eq. 10);
    - clip score :math:`\hat y_{uc} = a_p MLP^p(h_u^p \| h_c) - a_n MLP^n(h_u^n \| h_c)`
      (eq. 11-12), video score the mean over its clips (eq. 13), a logit;
    - loss :math:`\alpha L_1 + \beta L_2` (eq. 16): :math:`L_1` the clip BCE with
      positive weights :math:`\epsilon_i = i / N_c` (eq. 14), :math:`L_2` the BPR of
      the watched clips (embeddings mean-pooled) over the skipped clip (eq. 15). Eq. 14
      and 15 are sums over the same views, so both are divided by the batch's number of
      views and :math:`\alpha : \beta` keeps the paper's meaning (see
      :meth:`pointwise_loss`). The :math:`\lambda \|\Theta\|` term is the
      optimiser's ``weight_decay``.

    Clip labels come from the dataset's ``positive_clips`` field
    (:func:`watch_time.clip_labels_of`), the same numbers its graphs are built from.

    ``negative_clips: false`` is the paper's "w/o negative clips" ablation (Table 6):
    no propagation over :math:`\tilde R^n`, no negative tower, no :math:`L_2`.

    ``duration_aware: True`` (not in the paper, off by default) adds a learned embedding
    :math:`e_{b(v)}` of the video's duration bucket to every clip of the video in eq.
    (10), :math:`H_c = a_0 H_c^{(0)} + a_1 H_c^{(1)} + e_{b(v)}`, so both towers see the
    duration beside each clip; buckets are equal-frequency over the training views'
    durations (:meth:`WatchTimeDataset.duration_buckets`). At the clips rather than at
    the video score, because the clip labels themselves depend on duration (a short
    video's clips are all watched), and the towers can then weigh duration per user.
    """

    input_type = InputType.POINTWISE
    dataset_class = WatchTimeDataset

    def __init__(self, config, dataset):
        super(FRAME, self).__init__(config, dataset)

        # load parameters info
        self.n_clips = dataset.n_clips  # N_c
        self.embedding_size = config["embedding_size"]  # d (paper: 128)
        self.mlp_hidden_size = config["mlp_hidden_size"]  # hidden width of MLP^p / MLP^n
        self.visual_features = config["visual_features"]  # auto | enhanced | original | none
        self.negative_clips = config["negative_clips"]  # False: the w/o-negative-clips ablation
        self.positive_weight, self.negative_weight = config["tower_weights"]  # a_p, a_n (eq. 12)
        self.pointwise_weight, self.pairwise_weight = config["loss_weights"]  # alpha, beta (eq. 16)
        self.clip_weight_scheme = config["clip_weight_scheme"]  # position (eq. 14) | view (authors' code)
        self.duration_aware = config["duration_aware"]  # duration-bucket embedding in eq. (10), not in the paper
        self.n_duration_buckets = config["duration_buckets"]  # equal-frequency buckets of training durations
        if not isinstance(self.duration_aware, bool):
            raise ValueError(f"FRAME: duration_aware = {self.duration_aware!r}; expected True or False")
        features = dataset.clip_features
        self.visual_features = self._resolved_visual_features(features)
        self._check_embedding_size(features)
        d = self.embedding_size

        # user-clip graphs of the training split (eq. 4-6), sparse
        self.positive_graph = dataset.positive_clip_graph().to(self.device)
        # edge weights of eq. (5)-(6): buffers, so model.to(device) moves them; not saved
        self.register_buffer("positive_norm", self.positive_graph.symmetric_norm(), persistent=False)
        if self.negative_clips:
            self.negative_graph = dataset.negative_clip_graph().to(self.device)
            self.register_buffer("negative_norm", self.negative_graph.symmetric_norm(), persistent=False)

        # define layers and loss
        if self.visual_features == "none":
            self.clip_embedding = nn.Embedding(dataset.n_clip_nodes, d)
        else:
            # data, not learned: kept out of the state dict (and of every checkpoint)
            self.register_buffer("clip_feature", features.reshape(-1, features.shape[-1]).to(self.device),
                                 persistent=False)
            if self.visual_features == "enhanced":
                self.transform = nn.Linear(features.shape[-1], d, bias=False)  # W_t
        self.register_buffer("positive_features", self._propagated_features(self.positive_graph, self.positive_norm),
                             persistent=False)
        self.register_buffer("negative_features", self._propagated_features(self.negative_graph, self.negative_norm)
                             if self.negative_clips else None, persistent=False)
        self.user_weight_p = nn.Linear(d, d, bias=False)  # W_p^(1)
        self.clip_weight_p = nn.Linear(d, d, bias=False)  # W_p^(2)
        self.tower_p = self._tower(d)  # MLP^p
        if self.negative_clips:
            self.user_weight_n = nn.Linear(d, d, bias=False)  # W_n^(1)
            self.clip_weight_n = nn.Linear(d, d, bias=False)  # W_n^(2)
            self.tower_n = self._tower(d)  # MLP^n
        self.layer_mix = nn.Parameter(torch.tensor(config["clip_layer_weights"], dtype=torch.float))  # a_0, a_1
        if self.duration_aware:
            self.register_buffer("video_bucket", dataset.duration_buckets(self.n_duration_buckets).to(self.device),
                                 persistent=False)
            self.duration_embedding = nn.Embedding(self.n_duration_buckets + 1, d)  # e_b, b = 0: no duration

        # parameters initialization
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.xavier_normal_(module.weight)
        self.restore = None  # (H_u^p, H_u^n, H_c^(1)) cached for evaluation

    def _resolved_visual_features(self, features):
        """``visual_features`` as the model will honour it: ``auto`` becomes ``enhanced``
        with clip features and ``none`` (WARNING) without; ``enhanced`` / ``original``
        without clip features are an error, as is an unknown value."""
        setting = self.visual_features
        if setting not in VISUAL_FEATURES:
            raise ValueError(f"FRAME: visual_features must be one of {VISUAL_FEATURES}, got {setting!r}")
        if features is not None:
            return "enhanced" if setting == "auto" else setting
        if setting in ("enhanced", "original"):
            raise ValueError(f"FRAME: visual_features {setting!r} needs clip features, but the dataset has no "
                             f"clip_features; expected visual_features 'auto' or 'none' (learned clip "
                             f"embeddings), or a dataset with clip_features")
        if setting == "auto":
            self.logger.warning("FRAME: visual_features 'auto' on a dataset without clip_features: learning clip "
                                "embeddings (visual_features 'none', the paper's model without visual features)")
        return "none"

    def _check_embedding_size(self, features):
        """``original`` uses :math:`f_c` itself as :math:`H_c^{(0)}`, so ``d`` is the feature
        size; a different ``embedding_size`` cannot be honoured."""
        if self.visual_features == "original" and features.shape[-1] != self.embedding_size:
            raise ValueError(f"FRAME: visual_features 'original' uses the clip features as they are, of size "
                             f"{features.shape[-1]}, but embedding_size is {self.embedding_size}; expected "
                             f"embedding_size {features.shape[-1]} (or visual_features 'enhanced')")

    def _propagated_features(self, graph, norm):
        """:math:`\\tilde R F` of the fixed clip features (``None`` for learned clips)."""
        if self.visual_features == "none":
            return None
        with torch.no_grad():
            return graph.to_rows(norm, self.clip_feature)

    def _tower(self, d):
        return nn.Sequential(nn.Linear(2 * d, self.mlp_hidden_size), nn.ReLU(), nn.Linear(self.mlp_hidden_size, 1))

    # ------------------------------------------------------------------ representations

    def base_clips(self, nodes=None):
        """:math:`H_c^{(0)}` of clip ``nodes`` (all clips when ``None``), Section 3.1."""
        if self.visual_features == "none":
            return self.clip_embedding.weight if nodes is None else self.clip_embedding(nodes)
        features = self.clip_feature if nodes is None else self.clip_feature[nodes]
        return self.transform(features) if self.visual_features == "enhanced" else features

    def _user_side(self, graph, norm, user_weight, propagated_features):
        # eq. (7); W_t is linear, so R (F W_t) = (R F) W_t: with fixed features R F is
        # computed once, and only users are transformed
        if self.visual_features == "none":
            propagated = graph.to_rows(norm, self.clip_embedding.weight)
        elif self.visual_features == "enhanced":
            propagated = self.transform(propagated_features)
        else:
            propagated = propagated_features
        return F.relu(user_weight(propagated))

    def user_interests(self):
        """``(H_u^p, H_u^n)``, ``[n_users, d]`` each, eq. (7); ``H_u^n`` is ``None``
        without negative clips."""
        user_p = self._user_side(self.positive_graph, self.positive_norm, self.user_weight_p,
                                 self.positive_features)
        user_n = None
        if self.negative_clips:
            user_n = self._user_side(self.negative_graph, self.negative_norm, self.user_weight_n,
                                     self.negative_features)
        return user_p, user_n

    def second_hop_clips(self, user_p, user_n, nodes=None):
        """:math:`H_c^{(1)}` (eq. 8-9) of clip ``nodes`` (1-d), or of all clips; only the
        chosen clips' edges are visited, so a training batch costs its own clips."""
        def one_side(graph, norm, weight, users_h):
            messages = weight(users_h)
            return F.relu(graph.to_cols(norm, messages) if nodes is None
                          else graph.to_some_cols(norm, messages, nodes))

        clip_1 = one_side(self.positive_graph, self.positive_norm, self.clip_weight_p, user_p)
        if self.negative_clips:
            clip_1 = (clip_1 + one_side(self.negative_graph, self.negative_norm, self.clip_weight_n, user_n)) / 2
        return clip_1

    def forward(self):
        """``(H_u^p, H_u^n, H_c^(1))``: users ``[n_users, d]`` (``H_u^n`` is ``None``
        without negative clips) and second-hop clips ``[n_clip_nodes, d]``, eq. (7)-(9)."""
        user_p, user_n = self.user_interests()
        return user_p, user_n, self.second_hop_clips(user_p, user_n)

    def clip_nodes(self, items):
        """Clip nodes ``[n, N_c]`` of videos ``items``."""
        return items.unsqueeze(-1) * self.n_clips + torch.arange(self.n_clips, device=items.device)

    def mixed_clips(self, nodes, clip_1_rows):
        """:math:`H_c = a_0 H_c^{(0)} + a_1 H_c^{(1)}` for clip ``nodes``, given their
        :math:`H_c^{(1)}` rows (eq. 10); plus :math:`e_{b(v)}` with ``duration_aware``."""
        mixed = self.layer_mix[0] * self.base_clips(nodes) + self.layer_mix[1] * clip_1_rows
        if self.duration_aware:
            videos = torch.div(nodes, self.n_clips, rounding_mode="floor")
            mixed = mixed + take_rows(self.duration_embedding.weight, self.video_bucket[videos])
        return mixed

    def clip_score(self, user_p, user_n, clip_h):
        """:math:`\\hat y_{uc}` (eq. 11-12), a logit; user and clip rows broadcast."""
        score = self.positive_weight * _tower(self.tower_p, user_p, clip_h)
        if self.negative_clips:
            score = score - self.negative_weight * _tower(self.tower_n, user_n, clip_h)
        return score

    def clip_scores(self, users, items, reps=None):
        """Clip scores ``[n, N_c]`` of the pairs ``(users[i], items[i])``."""
        user_p, user_n, clip_1 = self.forward() if reps is None else reps
        nodes = self.clip_nodes(items)
        clip_h = self.mixed_clips(nodes, take_rows(clip_1, nodes))
        user_n = None if user_n is None else take_rows(user_n, users).unsqueeze(1)
        return self.clip_score(take_rows(user_p, users).unsqueeze(1), user_n, clip_h), clip_h

    # ------------------------------------------------------------------ loss

    def pointwise_loss(self, scores, counts):
        """Eq. (14): BCE of the watched clips (weight ``eps_i``) and of the skipped clip
        (weight 1); unseen clips after the skip carry no label. ``counts``: the views'
        ``positive_clips``.

        Eq. (14) and (15) are both sums over views: (14) over each view's labelled clips
        (up to ``N_c`` terms), (15) over its one pair. Eq. (16) weighs these sums, so
        both are divided by the same number, the batch's views: L1 is the sum over a
        view's clip terms, averaged over views, and :meth:`pairwise_loss` averages over
        all views too (a view without a pair adds 0). Averaging L1 over clip terms
        instead, as before, shrank it by the number of labelled clips per view (about
        3 for ``N_c = 4``) against L2, so ``loss_weights: [1, 1]`` was not the paper's
        1 : 1. L1 now grows with ``N_c``, as eq. (14) does."""
        labels = watch_time.clip_labels_of(counts, self.n_clips)
        weights = watch_time.clip_loss_weights(counts, self.n_clips, self.clip_weight_scheme)
        targets = (labels == watch_time.POSITIVE_CLIP).float()
        terms = F.binary_cross_entropy_with_logits(scores, targets, weight=weights, reduction="sum")
        return terms / len(scores)

    def pairwise_loss(self, user_p, user_n, clip_h, scores, counts):
        """Eq. (15): per skipped view with at least one watched clip, BPR of the
        mean-pooled watched clips over the clip of the skip; summed and divided by the
        batch's number of views (all of them, see :meth:`pointwise_loss`), 0 when no
        view has a pair."""
        counts = counts.long()
        skipped = watch_time.skip_clip_of(counts, self.n_clips)
        pair = (skipped >= 0) & (counts > 0)
        if not pair.any():
            return scores.new_zeros(())
        mask = (torch.arange(self.n_clips, device=counts.device) < counts[pair, None]).float()
        watched_h = (clip_h[pair] * mask.unsqueeze(-1)).sum(1) / counts[pair, None]
        positive = self.clip_score(user_p[pair], None if user_n is None else user_n[pair], watched_h)
        negative = scores[pair].gather(1, skipped[pair, None]).squeeze(1)
        return -F.logsigmoid(positive - negative).sum() / len(scores)

    def calculate_loss(self, interaction):
        self.restore = None
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        counts = interaction[POSITIVE_CLIPS_FIELD].long()
        user_p, user_n = self.user_interests()
        nodes = self.clip_nodes(items)
        batch_clips, position = torch.unique(nodes, return_inverse=True)
        clip_1 = take_rows(self.second_hop_clips(user_p, user_n, batch_clips), position)
        clip_h = self.mixed_clips(nodes, clip_1)
        row_p = take_rows(user_p, users)
        row_n = None if user_n is None else take_rows(user_n, users)
        scores = self.clip_score(row_p.unsqueeze(1), None if row_n is None else row_n.unsqueeze(1), clip_h)
        loss = self.pointwise_weight * self.pointwise_loss(scores, counts)
        if self.negative_clips:
            loss = loss + self.pairwise_weight * self.pairwise_loss(row_p, row_n, clip_h, scores, counts)
        return loss

    # ------------------------------------------------------------------ prediction

    def load_state_dict(self, *args, **kwargs):
        # the evaluation cache belongs to the old weights; it is recomputed, not saved
        self.restore = None
        return super().load_state_dict(*args, **kwargs)

    def _representations(self):
        if self.restore is None:
            self.restore = self.forward()
        return self.restore

    def predict(self, interaction):
        """Probability of a full watch: sigmoid of the mean clip score (eq. 13)."""
        users = interaction[self.USER_ID]
        items = interaction[self.ITEM_ID]
        scores, _ = self.clip_scores(users, items, self._representations())
        return torch.sigmoid(scores.mean(-1))

    def full_sort_predict(self, interaction):
        users = interaction[self.USER_ID]
        user_p, user_n, clip_1 = self._representations()
        nodes = self.clip_nodes(torch.arange(self.n_items, device=self.device)).reshape(-1)
        clip_h = self.mixed_clips(nodes, take_rows(clip_1, nodes))
        user_n = None if user_n is None else take_rows(user_n, users).unsqueeze(1)
        score = self.clip_score(take_rows(user_p, users).unsqueeze(1), user_n, clip_h.unsqueeze(0))  # [users, clips]
        return torch.sigmoid(score.view(len(users), self.n_items, self.n_clips).mean(-1)).reshape(-1)


def _tower(tower, user_h, clip_h):
    """``MLP(h_u || h_c)`` with the first linear layer split into its user and clip
    halves, so a user row is multiplied once for all its clips (same result as the
    concatenation, which is what eq. 11 writes); shapes broadcast."""
    first, activation, last = tower
    d = user_h.shape[-1]
    user_part = user_h @ first.weight[:, :d].T + first.bias
    clip_part = clip_h @ first.weight[:, d:].T
    return last(activation(user_part + clip_part)).squeeze(-1)
