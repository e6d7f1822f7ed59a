"""
CDAE
################################################
Reference:
    Yao Wu et al. "Collaborative Denoising Auto-Encoders for Top-N Recommender
    Systems." in WSDM 2016.
    Used as a test recommender by Wenjie Wang et al. "Denoising Implicit Feedback for
    Recommendation." in WSDM 2021.

Reference code:
    https://github.com/RUCAIBox/RecBole (recbole/model/general_recommender/cdae.py)
"""

import torch
from recbole.data.dataloader import UserDataLoader
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.init import xavier_normal_initialization
from recbole.utils import InputType
from torch import nn

from recbole_denoise.loss import DenoisingPointwiseLoss

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


class CDAE(GeneralRecommender):
    r"""CDAE with per-cell losses, so that the ADT losses apply to it.

    Hidden layer: :math:`z_u = h(W^T \tilde y_u + V_u + b)` with
    :math:`\tilde y_u` the user's training items after drop-out corruption;
    output: :math:`\hat y_{ui} = f(W'^T_i z_u + b'_i)`. The loss is taken over
    each user's observed items and ``neg_ratio`` sampled unobserved items per observed
    one (the negative sampling of the CDAE paper; ADT samples one negative per positive), so a
    cell of CDAE is one sample of T-CE / R-CE exactly as for GMF and NeuMF.

    Differs from RecBole's ``CDAE`` in that loss only (RecBole takes every cell).
    Trained on user-wise batches (``UserDataLoader``, declared by ``train_loader``).
    """

    input_type = InputType.POINTWISE
    train_loader = UserDataLoader

    def __init__(self, config, dataset):
        super(CDAE, self).__init__(config, dataset)

        # load parameters info
        self.embedding_size = config["embedding_size"]  # hidden units (ADT: 200)
        self.corruption_ratio = config["corruption_ratio"]  # drop-out q of the input
        self.neg_ratio = config["neg_ratio"]  # sampled negatives per observed item
        self.reg_weight = config["reg_weight"]  # L2 on weights and user vectors
        hid_activation = config["hid_activation"]
        self.clean_field = config["clean_field"]

        # training interactions of every user, padded: [n_users, max_history]; data,
        # not learned: buffers that follow the model's device, kept out of checkpoints
        history_item_id, _, _ = dataset.history_item_matrix()
        self.register_buffer("history_item_id", history_item_id.to(self.device), persistent=False)
        history_clean = self._history_clean_flags(dataset)
        self.register_buffer("history_clean", None if history_clean is None else history_clean.to(self.device),
                             persistent=False)

        # define layers and loss
        if hid_activation not in _ACTIVATIONS:
            raise ValueError(
                f"hid_activation must be one of {sorted(_ACTIVATIONS)}, got {hid_activation!r}"
            )
        self.h_act = _ACTIVATIONS[hid_activation]()
        self.dropout = nn.Dropout(p=self.corruption_ratio)
        self.user_embedding = nn.Embedding(self.n_users, self.embedding_size)
        self.encoder = nn.Linear(self.n_items, self.embedding_size)
        self.decoder = nn.Linear(self.embedding_size, self.n_items)
        self.loss = DenoisingPointwiseLoss(inputs="logits")

        # parameters initialization
        self.apply(xavier_normal_initialization)

    def _history_clean_flags(self, dataset):
        """Clean flag aligned with ``history_item_id``, or ``None`` without ground truth."""
        if self.clean_field not in dataset.inter_feat:
            return None
        _, flags, _ = dataset.history_item_matrix(value_field=self.clean_field)
        return flags

    def _batch_matrix(self, user, values=None):
        """Scatter the padded history rows of ``user`` into a dense ``[B, n_items]``:
        the rows of ``values`` (``[n_users, max_history]``), or ones when ``None``."""
        items = self.history_item_id[user]
        cells = torch.ones_like(items, dtype=torch.float) if values is None else values[user].float()
        matrix = torch.zeros(len(user), self.n_items, device=items.device)
        matrix.scatter_(1, items, cells)
        matrix[:, 0] = 0.0  # item 0 is RecBole's padding id
        return matrix

    def rating_matrix(self, user):
        return self._batch_matrix(user)

    def forward(self, rating_matrix, user):
        """Logits ``[B, n_items]`` of a batch of users."""
        hidden = self.encoder(self.dropout(rating_matrix)) + self.user_embedding(user)
        return self.decoder(self.h_act(hidden))

    def _sample_negatives(self, rating_matrix, rows):
        """One uniformly drawn unobserved item per entry of ``rows`` (re-drawn on hits)."""
        items = torch.randint(1, self.n_items, rows.shape, device=self.device)
        for _ in range(5):  # a few retries make collisions negligible
            hit = rating_matrix[rows, items] > 0
            if not hit.any():
                break
            items[hit] = torch.randint(1, self.n_items, (int(hit.sum()),), device=self.device)
        keep = rating_matrix[rows, items] == 0
        return rows[keep], items[keep]

    def calculate_loss(self, interaction):
        user = interaction[self.USER_ID]
        ratings = self.rating_matrix(user)
        logits = self.forward(ratings, user)

        pos_rows, pos_items = ratings.nonzero(as_tuple=True)
        neg_rows, neg_items = self._sample_negatives(
            ratings, pos_rows.repeat(self.neg_ratio)
        )
        scores = torch.cat([logits[pos_rows, pos_items], logits[neg_rows, neg_items]])
        labels = torch.cat([torch.ones_like(pos_rows), torch.zeros_like(neg_rows)]).float()
        clean = None
        if self.history_clean is not None:
            clean_matrix = self._batch_matrix(user, self.history_clean)
            clean = torch.cat([clean_matrix[pos_rows, pos_items], torch.ones_like(neg_rows).float()])
        loss = self.loss(scores, labels, clean=clean)
        l2 = sum(w.norm() ** 2 for w in (
            self.encoder.weight, self.decoder.weight, self.user_embedding(user)
        ))
        return loss + self.reg_weight * l2 / 2

    def predict(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        logits = self.forward(self.rating_matrix(user), user)
        return torch.sigmoid(logits[torch.arange(len(item), device=self.device), item])

    def full_sort_predict(self, interaction):
        user = interaction[self.USER_ID]
        return torch.sigmoid(self.forward(self.rating_matrix(user), user)).view(-1)
