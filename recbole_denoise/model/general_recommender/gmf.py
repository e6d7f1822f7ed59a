"""
GMF
################################################
Reference:
    Xiangnan He et al. "Neural Collaborative Filtering." in WWW 2017 (Sec. 3.2).
    Used as a test recommender by Wenjie Wang et al. "Denoising Implicit Feedback for
    Recommendation." in WSDM 2021.

Reference code:
    https://github.com/hexiangnan/neural_collaborative_filtering
    https://github.com/WenjieWWJ/DenoisingRec
"""

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn
from torch.nn.init import normal_

from recbole_denoise.loss import DenoisingPointwiseLoss


class GMF(GeneralRecommender):
    r"""Generalized Matrix Factorization: :math:`\hat y_{ui} = \sigma(h^T (p_u \odot q_i))`
    (NCF eq. 9 with an identity edge function).

    Pointwise: trained with BCE on each observed interaction and sampled negatives,
    or with the ADT losses (T-CE / R-CE) under the ``DenoiseTrainer``.
    """

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super(GMF, self).__init__(config, dataset)

        # load dataset info
        self.LABEL = config["LABEL_FIELD"]

        # load parameters info
        self.embedding_size = config["embedding_size"]  # predictive factors (ADT: 32)

        # define layers and loss
        self.user_embedding = nn.Embedding(self.n_users, self.embedding_size)
        self.item_embedding = nn.Embedding(self.n_items, self.embedding_size)
        self.predict_layer = nn.Linear(self.embedding_size, 1)
        self.loss = DenoisingPointwiseLoss(inputs="logits")

        # parameters initialization
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Embedding):
            normal_(module.weight.data, mean=0.0, std=0.01)

    def forward(self, user, item):
        """Logit of ``[B]`` (user, item) pairs."""
        element_product = self.user_embedding(user) * self.item_embedding(item)
        return self.predict_layer(element_product).squeeze(-1)

    def calculate_loss(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        label = interaction[self.LABEL]
        return self.loss(self.forward(user, item), label)

    def predict(self, interaction):
        user = interaction[self.USER_ID]
        item = interaction[self.ITEM_ID]
        return torch.sigmoid(self.forward(user, item))

    def full_sort_predict(self, interaction):
        user = interaction[self.USER_ID]
        # h^T (p_u * q_i) = (p_u * h)^T q_i: one matrix product for all items
        weighted_user = self.user_embedding(user) * self.predict_layer.weight
        logits = weighted_user @ self.item_embedding.weight.T + self.predict_layer.bias
        return logits.view(-1)
