"""
NeuMF
################################################
Reference:
    Xiangnan He et al. "Neural Collaborative Filtering." in WWW 2017 (Sec. 3.4).
    Used as a test recommender by Wenjie Wang et al. "Denoising Implicit Feedback for
    Recommendation." in WSDM 2021.

Reference code:
    https://github.com/RUCAIBox/RecBole (recbole/model/general_recommender/neumf.py)
    https://github.com/WenjieWWJ/DenoisingRec

Differs from RecBole's ``NeuMF`` only in having a ``full_sort_predict``: same
parameters (identical ``state_dict`` keys, so checkpoints load either way), same
training, same scores. RecBole's has none, so its full ranking ran every (user, item)
pair through ``predict``, and validation cost more than a training epoch.
"""

import torch
from recbole.model.general_recommender.neumf import NeuMF as RecBoleNeuMF
from torch import nn
from torch.nn import functional as F


class NeuMF(RecBoleNeuMF):
    r"""NeuMF: :math:`\hat y_{ui} = \sigma(h^T [p_u \odot q_i ;\ \mathrm{MLP}([p'_u ; q'_i])])`
    (NCF eq. 12), RecBole's model with a fast full sort.

    The first MLP layer is linear in :math:`[p'_u ; q'_i]`, so
    :math:`W_1 [p'_u ; q'_i] + b_1 = (W_1^u p'_u + b_1) + W_1^i q'_i`: one user part and
    one item part, added per pair. Only the layers after it run per pair, for chunks of
    users small enough that a chunk's ``[users, items, widest hidden]`` tensor holds at
    most ``pair_budget`` numbers. The item part is kept between evaluation batches
    while the weights it comes from are unchanged. The GMF part is one matrix product,
    as in ``GMF``.
    Scores are ``predict``'s (sigmoid probabilities) for every item. Pointwise: trained
    with BCE or, under the ``DenoiseTrainer``, with T-CE / R-CE (it swaps ``self.loss``).
    """

    # numbers in one chunk's [users, items, widest hidden] tensor (16 MB of float32)
    pair_budget = 2**22

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        # the first MLP layer's item part W_1^i q'_i [n_items, h_1], reused by evaluation
        # batches; outside the state_dict, so checkpoints keep RecBole's keys
        self.register_buffer("item_first_layer", None, persistent=False)
        self.item_first_layer_key = None

    def full_sort_predict(self, interaction):
        """``[B * n_items]`` probabilities of each user in the batch for every item.

        Full sort is for evaluation (dropout off). In training mode the dropout before
        the first layer draws one mask per user and one per item, not one per pair.
        """
        users = interaction[self.USER_ID]
        logits = [self._all_item_logits(chunk) for chunk in users.split(self._users_per_chunk())]
        return self.sigmoid(torch.cat(logits)).view(-1)

    def _users_per_chunk(self):
        widest = max([self.mf_embedding_size] + list(self.mlp_hidden_size))
        return max(1, self.pair_budget // (self.n_items * widest))

    def _all_item_logits(self, users):
        """``[U, n_items]`` logits: the predict layer over the GMF and MLP outputs."""
        mf_weight, mlp_weight = self._predict_weights()
        logits = self.predict_layer.bias.expand(len(users), self.n_items)
        if mf_weight is not None:
            logits = logits + self._gmf_part(users, mf_weight)
        if mlp_weight is not None:
            logits = logits + self._mlp_part(users, mlp_weight)
        return logits

    def _predict_weights(self):
        """The predict layer's weights on the GMF output and on the MLP output
        (``None`` for a part that ``mf_train`` / ``mlp_train`` switch off)."""
        weight = self.predict_layer.weight.squeeze(0)
        if self.mf_train and self.mlp_train:
            return weight[: self.mf_embedding_size], weight[self.mf_embedding_size:]
        if self.mf_train:
            return weight, None
        if self.mlp_train:
            return None, weight
        raise RuntimeError("mf_train and mlp_train can not be False at the same time")

    def _gmf_part(self, users, weight):
        r"""``[U, n_items]``: :math:`h^T (p_u \odot q_i) = (p_u \odot h)^T q_i`."""
        return (self.user_mf_embedding(users) * weight) @ self.item_mf_embedding.weight.T

    def _mlp_part(self, users, weight):
        r"""``[U, n_items]``: :math:`h^T \mathrm{MLP}([p'_u ; q'_i])`, the first layer split
        into a user and an item part, the later layers per pair."""
        before, first, after = self._split_at_first_linear()
        user_input = before(self.user_mlp_embedding(users))
        user_part = F.linear(user_input, first.weight[:, : self.mlp_embedding_size], first.bias)
        item_part = self._item_first_layer(before, first)
        hidden = user_part.unsqueeze(1) + item_part.unsqueeze(0)  # [U, n_items, h_1]
        return after(hidden) @ weight

    def _item_first_layer(self, before, first):
        """``[n_items, h_1]``: :math:`W_1^i q'_i` for every item. In evaluation (eval
        mode, no grad) it is computed once and kept until ``train()`` / ``eval()`` or a
        new version of the weights it reads (an optimiser step or ``load_state_dict``
        makes one; an edit through ``.data`` does not, so call ``eval()`` after it)."""
        weights = (self.item_mlp_embedding.weight, first.weight)
        key = tuple((weight.data_ptr(), weight._version) for weight in weights)
        reusable = not self.training and not torch.is_grad_enabled()
        if reusable and key == self.item_first_layer_key:
            return self.item_first_layer
        item_part = F.linear(before(self.item_mlp_embedding.weight), first.weight[:, self.mlp_embedding_size:])
        if reusable:
            self.item_first_layer, self.item_first_layer_key = item_part, key
        return item_part

    def train(self, mode=True):
        """Switch mode (``eval()`` calls this too) and drop the cached item part."""
        self.item_first_layer, self.item_first_layer_key = None, None
        return super().train(mode)

    def _split_at_first_linear(self):
        """RecBole's MLP (``Dropout, Linear, ReLU`` per layer) as the modules before
        its first ``Linear``, that ``Linear``, and the modules after it."""
        layers = list(self.mlp_layers.mlp_layers)
        index = next(i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear))
        return nn.Sequential(*layers[:index]), layers[index], nn.Sequential(*layers[index + 1:])
