"""recbole_denoise.model.memory
###################################
Layers of DUMN (Bian et al., RecSys 2021) that other sequence or memory models can reuse:
masked attention over padded histories, orthogonal purification, and an NTM-style
external memory read by cosine-softmax addressing and written by erase / add.

Equation numbers are those of the DUMN paper. Shapes: ``B`` batch, ``T`` history length,
``D`` element size, ``m`` memory slots, ``Z`` slot size.
"""

import math

import torch
from torch import nn

# a squared norm below this counts as the zero vector (no direction to project on)
_TINY = 1e-12


def masked_softmax(scores, mask, dim=-1):
    """Softmax of ``scores`` over ``dim`` restricted to positions where ``mask`` is True.

    A slice with no True position gets all-zero weights (not NaN), so an empty history
    sums to the zero vector. ``mask`` broadcasts against ``scores``.
    """
    lowest = torch.finfo(scores.dtype).min
    scores = scores.masked_fill(~mask, lowest)
    scores = scores - scores.amax(dim=dim, keepdim=True)  # an all-masked slice becomes 0, not NaN
    weights = scores.exp() * mask
    return weights / weights.sum(dim=dim, keepdim=True).clamp_min(_TINY)


class MultiHeadSelfAttention(nn.Module):
    r"""Multi-head self-attention over one padded history (DUMN eq. 1-2).

    The input is cut into ``H`` heads along the feature axis, :math:`e = [e_1, \dots,
    e_H]`, :math:`e_h \in R^{T \times D/H}`; each head has its own :math:`W^Q_h, W^K_h,
    W^V_h \in R^{D/H \times D/H}` and

    .. math:: head_h = softmax(e_h W^Q_h (e_h W^K_h)^T / \sqrt{T}) e_h W^V_h,
              O = Concat(head_1, \dots, head_H) W^F.

    The scale is :math:`\sqrt{T}` as the paper writes it (not the usual
    :math:`\sqrt{D/H}`). Padded positions are never attended to (key mask); outputs at
    padded positions are meaningless and the caller masks them out.

    Input: ``elements`` [B, T, D], ``mask`` [B, T] bool. Output: [B, T, D].
    """

    def __init__(self, dim, n_heads, length):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"n_heads = {n_heads} must divide the history element size {dim}")
        self.n_heads = n_heads
        self.head_size = dim // n_heads
        self.scale = math.sqrt(length)
        shape = (n_heads, self.head_size, self.head_size)
        self.query = nn.Parameter(torch.empty(shape))  # W^Q_h
        self.key = nn.Parameter(torch.empty(shape))  # W^K_h
        self.value = nn.Parameter(torch.empty(shape))  # W^V_h
        self.output = nn.Linear(dim, dim, bias=False)  # W^F
        for weight in (self.query, self.key, self.value):
            for head in weight.data:
                nn.init.xavier_normal_(head)

    def forward(self, elements, mask):
        batch, length, _ = elements.shape
        heads = elements.view(batch, length, self.n_heads, self.head_size)  # [B, T, H, D/H]
        # the three projections of every head in one product: [B, T, H, 3 D/H]
        projected = torch.einsum("bthd,hde->bhte", heads, torch.cat([self.query, self.key, self.value], dim=-1))
        query, key, value = projected.split(self.head_size, dim=-1)  # each [B, H, T, D/H]
        scores = query @ key.transpose(-1, -2) / self.scale  # [B, H, T, T]
        # a plain (fused) softmax: a query of an empty history gets uniform weights over
        # padding, and the caller masks its output out
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        mixed = (weights @ value).transpose(1, 2).reshape(batch, length, -1)
        return self.output(mixed)


class TargetAttention(nn.Module):
    r"""Attention of the (user, target item) pair over a history (DUMN eq. 3-5):
    :math:`\alpha_j = ReLU(Concat(e_{user}, e_{item}, o^j) W)`, a softmax over the
    history's real positions, :math:`f = \sum_j \tilde\alpha_j o^j`; an empty history
    gives :math:`f = 0`.

    Input: ``query`` [B, Q] (user and item embeddings), ``elements`` [B, T, D], ``mask``
    [B, T]. Output: [B, D].
    """

    def __init__(self, query_size, dim):
        super().__init__()
        self.score = nn.Linear(query_size + dim, 1)  # W_c

    def forward(self, query, elements, mask):
        expanded = query.unsqueeze(1).expand(-1, elements.shape[1], -1)
        alpha = torch.relu(self.score(torch.cat([expanded, elements], dim=-1))).squeeze(-1)  # eq. (3)
        weights = masked_softmax(alpha, mask)  # eq. (4)
        return (weights.unsqueeze(-1) * elements).sum(dim=1)  # eq. (5)


def orthogonal_purification(vector, direction):
    r"""``vector`` minus its projection on ``direction`` (DUMN eq. 6-7):
    :math:`f^o = f - \frac{f \cdot g}{|g|} \frac{g}{|g|}`, row by row. The result is
    orthogonal to ``direction``; where ``direction`` is the zero vector (an empty
    explicit history) ``vector`` is returned unchanged.

    Input: two [B, D] tensors. Output: [B, D].
    """
    squared_norm = (direction * direction).sum(dim=-1, keepdim=True)
    coefficient = (vector * direction).sum(dim=-1, keepdim=True) / squared_norm.clamp_min(_TINY)
    return vector - coefficient * direction


def cosine_addressing(keys, memory, strength=1.0):
    r"""Weights over the memory's slots (DUMN eq. 9-10): a softmax over slots of
    ``strength`` times the cosine similarity of each key and each slot. ``strength`` 1 is
    the paper's eq. (9); NTM's key strength :math:`\beta` sharpens it.

    Input: ``keys`` [B, Z], ``memory`` [m, Z]. Output: [B, m], rows summing to 1.
    """
    similarity = nn.functional.normalize(keys, dim=-1, eps=1e-8) @ \
        nn.functional.normalize(memory, dim=-1, eps=1e-8).T
    return torch.softmax(strength * similarity, dim=-1)


def memory_read(weights, memory):
    r""":math:`r = \sum_j w(j) M(j)` (DUMN eq. 11; eq. 18 with write weights).
    Input: ``weights`` [B, m], ``memory`` [m, Z]. Output: [B, Z]."""
    return weights @ memory


def memory_write(memory, weights, erase, add):
    r"""The memory after one batch's writes (DUMN eq. 12),
    :math:`M \leftarrow (1 - E) \odot M + A`, with the batch means of the rows' erase
    matrices :math:`E_b = w_b \otimes erase_b` and add matrices :math:`A_b = w_b \otimes
    add_b`: every row writes at once, so the result does not depend on the order of rows
    in the batch, and a batch moves the memory as much as one row would.

    Input: ``memory`` [m, Z], ``weights`` [B, m], ``erase`` [B, Z] in [0, 1], ``add``
    [B, Z]. Output: [m, Z].
    """
    rows = weights.shape[0]
    erase_matrix = weights.T @ erase / rows
    add_matrix = weights.T @ add / rows
    return (1 - erase_matrix) * memory + add_matrix


def read_after_own_write(memory, weights, erase, add):
    r"""For each row, what its write weights read from the memory that its own write
    (eq. 12, alone) leaves: :math:`q_b = \sum_j w_b(j) M'_b(j)` with :math:`M'_b = (1 -
    w_b \otimes erase_b) \odot M + w_b \otimes add_b` (the anchor of eq. 18). Computed
    without forming the B memories:
    :math:`q_b = w_b M - erase_b \odot (w_b^2 M) + add_b \sum_j w_b(j)^2`.
    Differentiable in ``weights``, ``erase`` and ``add``.

    Input: as :func:`memory_write`. Output: [B, Z].
    """
    squared = weights * weights
    return weights @ memory - erase * (squared @ memory) + add * squared.sum(dim=-1, keepdim=True)


class MemoryController(nn.Module):
    r"""The controller of one memory (DUMN eq. 8 and the write of eq. 12): an FFN of
    ``Concat(f^o, e_user)`` with one hidden ReLU layer, and four heads: the read key
    :math:`k`, the write key (addressing as in eq. 9), the erase vector (sigmoid, in
    [0, 1]) and the add vector (tanh, in [-1, 1], as in NTM implementations).

    Input: [B, in_size]. Output: dict ``read_key``, ``write_key``, ``erase``, ``add``, each
    [B, Z].
    """

    def __init__(self, in_size, hidden_size, slot_size):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_size, hidden_size), nn.ReLU())
        self.read_key = nn.Linear(hidden_size, slot_size)
        self.write_key = nn.Linear(hidden_size, slot_size)
        self.erase = nn.Linear(hidden_size, slot_size)
        self.add = nn.Linear(hidden_size, slot_size)

    def forward(self, inputs):
        hidden = self.hidden(inputs)
        return {
            "read_key": self.read_key(hidden),
            "write_key": self.write_key(hidden),
            "erase": torch.sigmoid(self.erase(hidden)),
            "add": torch.tanh(self.add(hidden)),
        }
