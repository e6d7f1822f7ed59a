"""
Label-rate rankers
################################################
Trivial baselines for labeled (CTR-style) data: the training rate of the label, overall,
per user or per item. On feedback data they set the floor a model must clear: on the
KuaiRand like / hate sample the per-item like rate alone reaches an AUC of about 0.90.
"""

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType


class LabelRate(GeneralRecommender):
    r"""Score of a sample: :math:`(s_k + m \bar y) / (n_k + m)`, the training label sum
    :math:`s_k` over the :math:`n_k` training samples of its key :math:`k` (the user, the
    item, or one key for all), shrunk toward the global rate :math:`\bar y` by
    ``prior_samples`` :math:`m` pseudo-samples; a key without training samples gets
    :math:`\bar y`. Subclasses name the key with :meth:`keys`. Nothing is learned."""

    input_type = InputType.POINTWISE
    type = ModelType.CONTEXT

    def __init__(self, config, dataset):
        super(LabelRate, self).__init__(config, dataset)

        # load parameters info
        self.LABEL = config["LABEL_FIELD"]
        self.prior_samples = config["prior_samples"]  # pseudo-samples at the global rate

        labels = dataset.inter_feat[self.LABEL].double()
        keys = self.keys(dataset.inter_feat)
        size = self.key_count()
        counts = torch.bincount(keys, minlength=size).double()
        sums = torch.bincount(keys, weights=labels, minlength=size)
        global_rate = labels.mean() if len(labels) else torch.tensor(0.5, dtype=torch.float64)
        rate = (sums + self.prior_samples * global_rate) / (counts + self.prior_samples)
        self.register_buffer("rate", rate.float().to(self.device))
        self.fake_loss = torch.nn.Parameter(torch.zeros(1))  # RecBole's trainer needs a parameter

    def keys(self, interaction):
        """The key of each sample: a LongTensor indexing ``rate``."""
        raise NotImplementedError

    def key_count(self):
        raise NotImplementedError

    def calculate_loss(self, interaction):
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction):
        return self.rate[self.keys(interaction).to(self.rate.device)]
