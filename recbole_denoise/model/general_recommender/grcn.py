"""
GRCN
################################################
Reference:
    Yinwei Wei et al. "Graph-Refined Convolutional Network for Multimedia
    Recommendation with Implicit Feedback." in ACM MM 2020.

Reference code:
    https://github.com/weiyinwei/GRCN

The paper's text lost its formulas; the equations below are those of the paper as
restored from the authors' code (see the GRCN section of REFERENCE.md). Section
numbers refer to the paper: 2.2.1 graph refining layer (prototypical network with
neighbour routing, pruning), 2.2.2 graph convolutional layer, 2.2.3 prediction layer.
"""

from logging import getLogger

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from recbole_denoise.data.dataset import MultimodalDataset
from recbole_denoise.loss import DenoisingPairwiseLoss
from recbole_denoise.model.layers import BipartiteGraph, take_rows

FUSIONS = ("confid", "mean", "max")
PRUNINGS = ("soft", "hard")
REPRESENTATIONS = ("concat", "id")


class GRCN(GeneralRecommender):
    r"""GRCN refines the user-item graph with item content, then convolves ID
    embeddings over the refined graph.

    Per modality :math:`m`, a prototypical network distils item features
    :math:`\bar i_m = \mathrm{norm}(\mathrm{leaky\_relu}(W_m i_m + b_m))` and routes them
    into user preferences :math:`\bar u_m` (``routing_iters`` rounds of
    :math:`u \leftarrow \mathrm{norm}(u + \sum_{i \in N(u)} \alpha_{ui} \bar i)`,
    :math:`\alpha_{ui} = \mathrm{softmax}_{i \in N(u)}(u \cdot \bar i)`; Sec. 2.2.1).
    Each directed edge gets the attention :math:`\alpha_m` of its target's neighbour
    softmax; the edge weight fuses modalities with the source node's base vector
    :math:`\rho` by max (``fusion: confid``), or by ``mean`` / ``max`` alone; ``hard``
    pruning clamps it at 0. Two weighted propagation layers over normalised ID
    embeddings give :math:`e + h^{(1)} + h^{(2)}` (Sec. 2.2.2); the prediction is the
    inner product of the concatenated ID and per-modality representations (Sec. 2.2.3;
    ``representation: id`` is GRCN-ID). Pairwise BPR training with the paper's L2 term.
    """

    input_type = InputType.PAIRWISE
    dataset_class = MultimodalDataset

    def __init__(self, config, dataset):
        super(GRCN, self).__init__(config, dataset)

        # load parameters info
        self.embedding_size = config["embedding_size"]  # ID embeddings, dim_E
        self.content_size = config["content_size"]  # distilled features / preferences, dim_C
        self.routing_iters = config["routing_iters"]  # neighbour routing rounds (paper: 3)
        self.fusion = config["fusion"]  # confid | mean | max
        self.pruning = config["pruning"]  # soft | hard
        self.representation = config["representation"]  # concat | id (GRCN-ID)
        self.reg_weight = config["reg_weight"]  # L2 on the batch's ID rows and preferences
        self._check_choices()
        self.modalities = self._chosen_modalities(config, dataset)

        # the training graph: users x items
        users, items = dataset.interaction_pairs()
        self.graph = BipartiteGraph(users, items, self.n_users, self.n_items).to(self.device)

        # define layers and loss
        self.user_id_embedding = nn.Embedding(self.n_users, self.embedding_size)
        self.item_id_embedding = nn.Embedding(self.n_items, self.embedding_size)
        self.preferences = nn.ParameterDict()
        self.distillers = nn.ModuleDict()
        self.word_embeddings = nn.ModuleDict()
        self._modality_inputs(dataset)
        self.register_load_state_dict_pre_hook(_before_loading_weights)
        n_modalities = len(self.modalities)
        # base vectors rho of users and items (node order: users, then items)
        self.confidence = nn.Parameter(torch.empty(self.n_users + self.n_items, max(n_modalities, 1)))
        self.loss = DenoisingPairwiseLoss()

        # parameters initialization
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_normal_(parameter)

        # cached full-sort representations
        self.restore_user_e = None
        self.restore_item_e = None
        self.other_parameter_name = ["restore_user_e", "restore_item_e"]

    def _check_choices(self):
        for key, value, allowed in (("fusion", self.fusion, FUSIONS), ("pruning", self.pruning, PRUNINGS),
                                    ("representation", self.representation, REPRESENTATIONS)):
            if value not in allowed:
                raise ValueError(f"GRCN: {key} must be one of {allowed}, got {value!r}")

    @staticmethod
    def _chosen_modalities(config, dataset):
        available = list(dataset.item_features) + list(dataset.item_words)
        chosen = config["modalities"] or available
        unknown = [name for name in chosen if name not in available]
        if unknown:
            raise ValueError(f"GRCN: modalities {unknown} not in the dataset (available: {available})")
        if not chosen and config["representation"] != "id":
            raise ValueError("GRCN needs at least one item modality (item_modalities in the dataset yaml)")
        return list(chosen)

    def _modality_inputs(self, dataset):
        """Per modality: a preference table, and a distiller (dense) or word table.
        The item features (``features_<name>``) and item-word graphs are data, not
        learned: buffers kept out of the state dict, so no checkpoint carries them."""
        for name in self.modalities:
            self.preferences[name] = nn.Parameter(torch.empty(self.n_users, self.content_size))
            if name in dataset.item_features:
                features = dataset.item_features[name]
                self.register_buffer(f"features_{name}", features.to(self.device), persistent=False)
                self.distillers[name] = nn.Linear(features.shape[1], self.content_size)
            else:
                item_word_pairs, n_words = dataset.item_words[name]
                graph = BipartiteGraph(item_word_pairs[0], item_word_pairs[1], self.n_items, n_words)
                setattr(self, f"words_{name}", graph.to(self.device))
                self.word_embeddings[name] = nn.Embedding(n_words, self.content_size)

    def distilled_features(self, name):
        r""":math:`\bar i_m`, ``[n_items, content_size]``, L2-normalised."""
        if name in self.distillers:
            features = F.leaky_relu(self.distillers[name](getattr(self, f"features_{name}")))
        else:  # Tiktok titles: mean of the item's word embeddings
            words = getattr(self, f"words_{name}")
            features = words.to_rows(words.row_mean_weights(), self.word_embeddings[name].weight)
        return F.normalize(features, dim=-1)

    def route(self, preference, features):
        r"""Neighbour routing, items into users: ``routing_iters`` rounds of
        :math:`u \leftarrow \mathrm{norm}(u + \sum_{i \in N(u)} \mathrm{softmax}_{i}(u \cdot \bar i)\, \bar i)`."""
        for _ in range(self.routing_iters):
            attention = self.graph.softmax_per_row(self.graph.edge_dot(preference, features))
            preference = F.normalize(preference + self.graph.to_rows(attention, features), dim=-1)
        return preference

    def modality_forward(self, name):
        """Content representations of users and items, and the edge attentions
        ``item -> user`` (softmax over the user's items) and ``user -> item``."""
        features = self.distilled_features(name)
        preference = self.route(F.normalize(self.preferences[name], dim=-1), features)
        scores = self.graph.edge_dot(preference, features)
        item_to_user = self.graph.softmax_per_row(scores)
        user_to_item = self.graph.softmax_per_col(scores)
        user_content = preference + self.graph.to_rows(item_to_user, features)
        item_content = features + self.graph.to_cols(user_to_item, preference)
        return user_content, item_content, item_to_user, user_to_item

    def fuse_edge_weights(self, item_to_user, user_to_item):
        r"""Edge weights from ``[E, M]`` attentions: :math:`\max_m \alpha_m \rho_{src,m}`
        (confid), or the mean / max over modalities; hard pruning clamps at 0."""
        if self.fusion == "confid":
            item_to_user = item_to_user * take_rows(self.confidence, self.n_users + self.graph.cols)
            user_to_item = user_to_item * take_rows(self.confidence, self.graph.rows)
        if self.fusion == "mean":
            weights = item_to_user.mean(-1), user_to_item.mean(-1)
        else:
            weights = item_to_user.max(-1).values, user_to_item.max(-1).values
        if self.pruning == "hard":
            weights = tuple(torch.relu(w) for w in weights)
        return weights

    def refine_graph(self):
        """Graph refining layer (Sec. 2.2.1): per-modality content representations
        and the fused weights of the ``item -> user`` and ``user -> item`` edges."""
        contents, attentions = [], []
        for name in self.modalities:
            user_content, item_content, item_to_user, user_to_item = self.modality_forward(name)
            contents.append((user_content, item_content))
            attentions.append((item_to_user, user_to_item))
        if not attentions:  # GRCN-ID on a dataset without content: unit weights
            ones = torch.ones(self.graph.num_edges, device=self.device)
            return contents, ones, ones
        item_to_user, user_to_item = self.fuse_edge_weights(
            torch.stack([a[0] for a in attentions], -1), torch.stack([a[1] for a in attentions], -1))
        return contents, item_to_user, user_to_item

    def forward(self):
        contents, item_to_user, user_to_item = self.refine_graph()
        user_e = F.normalize(self.user_id_embedding.weight, dim=-1)
        item_e = F.normalize(self.item_id_embedding.weight, dim=-1)
        user_h1 = self.graph.to_rows(item_to_user, item_e)
        item_h1 = self.graph.to_cols(user_to_item, user_e)
        user_h2 = self.graph.to_rows(item_to_user, item_h1)
        item_h2 = self.graph.to_cols(user_to_item, user_h1)
        user_all, item_all = [user_e + user_h1 + user_h2], [item_e + item_h1 + item_h2]
        if self.representation == "concat":
            user_all += [c[0] for c in contents]
            item_all += [c[1] for c in contents]
        return torch.cat(user_all, -1), torch.cat(item_all, -1)

    def calculate_loss(self, interaction):
        # clear the full-sort cache at the start of each training step
        self.restore_user_e, self.restore_item_e = None, None
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]

        user_all, item_all = self.forward()
        user_rep = take_rows(user_all, user)
        pos_score = (user_rep * take_rows(item_all, pos_item)).sum(-1)
        neg_score = (user_rep * take_rows(item_all, neg_item)).sum(-1)
        loss = self.loss(pos_score, neg_score)

        # the authors' regulariser: element means of the batch's ID rows and preferences
        reg = (self.user_id_embedding(user) ** 2).mean() + (self.item_id_embedding(pos_item) ** 2).mean()
        reg = reg + (self.item_id_embedding(neg_item) ** 2).mean()
        for name in self.modalities:
            reg = reg + (take_rows(self.preferences[name], user) ** 2).mean()
        return loss + self.reg_weight * reg

    def predict(self, interaction):
        user_all, item_all = self.forward()
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        return (user_all[user] * item_all[item]).sum(-1)

    def full_sort_predict(self, interaction):
        # the graph is computed once per evaluation, not once per user batch
        if self.restore_user_e is None or self.restore_item_e is None:
            self.restore_user_e, self.restore_item_e = self.forward()
        user = interaction[self.USER_ID]
        return (self.restore_user_e[user] @ self.restore_item_e.T).view(-1)

    @torch.no_grad()
    def edge_weights(self):
        """Learned weight of every training edge: a dict of ``user``, ``item``
        (RecBole internal ids), ``item_to_user`` and ``user_to_item`` weights, ``[E]``."""
        _, item_to_user, user_to_item = self.refine_graph()
        return {"user": self.graph.rows.cpu(), "item": self.graph.cols.cpu(),
                "item_to_user": item_to_user.cpu(), "user_to_item": user_to_item.cpu()}


def _before_loading_weights(model, state_dict, prefix, *args):
    """Before ``load_state_dict``: clear the full-sort cache (it belongs to the old
    weights; a checkpoint's own cache comes back through ``load_other_parameter``), and
    drop the item features that checkpoints written before they left the state dict
    still carry (the dataset provides the same), so those files load with ``strict=True``."""
    model.restore_user_e, model.restore_item_e = None, None
    saved = [key for key in state_dict if key.startswith(prefix + "features_")]
    if saved:
        getLogger().warning(f"GRCN: checkpoint carries item features {saved}; ignored, "
                            f"the model uses the dataset's")
    for key in saved:
        del state_dict[key]
