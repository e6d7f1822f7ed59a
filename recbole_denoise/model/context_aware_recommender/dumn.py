r"""
DUMN
################################################
Reference:
    Zhi Bian, Shaojun Zhou, Hao Fu, Qihong Yang, Zhenqi Sun, Junjie Tang, Guiquan Liu,
    Kaikui Liu and Xiaolong Li. "Denoising User-aware Memory Network for Recommendation"
    in RecSys 2021.

Reference code:
    none published (the paper says code was uploaded as additional material; it is not
    public). This is the first public implementation; every choice the paper leaves
    open is listed below and in ``properties/model/DUMN.yaml``.

Equation numbers are the paper's.

Choices the paper leaves open
-----------------------------
- History elements: an element is an item with its features (``history_item_fields``,
  item id first), each field embedded with the SAME table as the target item's field and
  the embeddings CONCATENATED (as the paper concatenates the fields of e_user and
  e_item), so an element has size ``D = len(history_item_fields) * embedding_size``.
  Windows are the ``history_length`` (T) most recent events strictly before the
  sample's time (``FeedbackHistories.window``); padding is masked everywhere and an
  empty history gives f = 0 (never NaN).
- Eq. (1) divides by :math:`\sqrt{T}` as printed; heads split the element's features
  (``n_heads`` must divide D); no residual, no layer norm (the paper has none).
  Attention weights (eq. 1-5) are separate per feedback kind (the paper indexes them by
  kind: :math:`W_{c,h}^Q`, :math:`W_c`).
- Purification (eq. 6-7) is skipped where the explicit direction is zero (an empty
  like / dislike history): the implicit vector is kept unchanged.
- Memories (eq. 8-12) are SHARED by all users (slots hold interests that users share, as
  Section 3.4 says; a per-user memory would not fit 1.1M users). They are one
  persistent buffer ``memory`` of shape [n_memories, m, Z] (saved in checkpoints, so a
  resumed run continues from them), initialised N(0, 1/Z) (slots of norm about 1) from
  the seeded global generator. They are changed only by the write rule (eq. 12), never
  by the optimiser: in ``calculate_loss`` when ``self.training``, after the loss is
  computed, under ``torch.no_grad``, with the batch means of the rows' erase and add
  matrices (:func:`memory.memory_write`: order-free, and a batch moves the memory as
  much as one row would). ``predict`` and evaluation never write. The controller (one
  per memory reader) is an FFN with one ReLU layer of ``controller_hidden_size`` (the
  paper's "FFN 512") and four heads: read key (eq. 8), write key (addressing as eq. 9),
  erase (sigmoid) and add (tanh). Addressing is the softmax of cosine similarities (eq.
  9-10) times ``key_strength`` (1 = the paper's eq. 9; NTM's beta sharpens it).
- PAIR (eq. 13): :math:`W_1`, :math:`W_2` are square (D x D and Z x Z, no bias), so the
  Hadamard products are defined; U has size D + Z. Without a memory (``memory: none``)
  U is the gated short-term vector alone.
- Output (eq. 15): an MLP (``mlp_hidden_size``, ReLU, ``dropout_prob`` before each
  layer, RecBole's MLPLayers) and a linear layer to one logit; ``predict`` is its
  sigmoid, the loss eq. (16) is BCE with logits.
- Triplet loss (eq. 17-20): for every row and kind, one event is drawn uniformly from
  ALL of the user's events of that kind strictly before the sample's time
  (``FeedbackHistories.sample``, not only the T-window); its element embedding
  (the embedding layer's output, eq. 17's :math:`s`) is mapped to the slot size by a
  learned linear map (D != Z in general). The anchor :math:`q` (eq. 18) reads, with the
  row's write weights, the memory as the row's own write leaves it
  (:func:`memory.read_after_own_write`), so the loss trains the write key, erase and add
  heads ("an auxiliary loss to help complete the memory write"); the read of eq. (11)
  uses the memory before the batch's write. Pairs <s_c, s_u>, <s_u, s_c>, <s_l, s_d>,
  <s_d, s_l> for M_c, M_u, M_l, M_d. A row counts for a memory when its user has events
  of both kinds of the pair; ``hardest`` then takes the batch's farthest positive and
  nearest negative sample by cosine (samples of every row compete: a random batch
  rarely holds one user twice), ``random`` the row's own two samples (the paper's RS).
  Each L_k is the mean over its counted rows (0 when none: Taobao has no dislike);
  :math:`L = L_1 + \lambda L_2` with ``triplet_weight`` :math:`\lambda` (paper: 1).
  ``triplet_margin`` is not given in the paper.
- Initialisation: xavier-normal for every linear and embedding weight (as RecBole's
  context models), zero biases.

Ablations (yaml switches; the paper's names)
--------------------------------------------
- ``purification: False`` = DUMN-FP (Section 4.3.1).
- ``memory: none`` = DUMN-UMN, ``memory: shared`` = DUMN+UMN1 (Table 2): one memory that
  every kind's controller reads and writes (writes applied kind after kind). Without a
  memory there is nothing for the triplet loss to regularise: it is off (WARNING if
  ``triplet_loss`` is True).
- ``pair: concat | cross | ffn`` = DUMN_CONCAT, DUMN_CROSS, DUMN_FFN (Table 4): U =
  Concat(f, r); Concat(f' + r, f' - r, f' * r) with f' = f W (D -> Z); Concat(ReLU(f
  W_f), ReLU(r W_r)) with both mapped to Z. DUMN_ATTE is not implemented (the paper does
  not define it).
- ``triplet_loss: False`` = DUMN-TL, ``triplet_sampling: random`` = DUMN_RS (Table 5).
- ``feedback: implicit`` = DUMN_IF (click and unclick histories, memories M_c and M_u, no
  purification: there is no explicit vector to project on); ``feedback: merged`` =
  DUMN_AF (every kind in one time-ordered history, one extractor, one memory, no
  purification; each element also gets a learned embedding of its kind, added to its
  embedding, else a click and an unclick of one item would look the same; its memory's
  triplet pair is <click, unclick>) (Table 6). With either, ``purification: True`` is a
  WARNING and purification is off, as in the paper.
"""

import torch
from recbole.model.abstract_recommender import ContextRecommender
from recbole.model.layers import MLPLayers
from recbole.utils import FeatureSource, InputType
from torch import nn

from recbole_denoise.data.feedback_dataset import FeedbackHistoryDataset
from recbole_denoise.data.feedback_histories import ALL, KINDS
from recbole_denoise.loss.triplet import TRIPLET_SAMPLINGS, MemoryTripletLoss
from recbole_denoise.model.memory import (
    MemoryController,
    MultiHeadSelfAttention,
    TargetAttention,
    cosine_addressing,
    memory_read,
    memory_write,
    orthogonal_purification,
    read_after_own_write,
)

MEMORIES = ("separate", "shared", "none")  # DUMN, DUMN+UMN1, DUMN-UMN
FEEDBACKS = ("all_kinds", "implicit", "merged")  # DUMN, DUMN_IF, DUMN_AF
PAIRS = ("gate", "concat", "cross", "ffn")  # DUMN, DUMN_CONCAT, DUMN_CROSS, DUMN_FFN
# eq. (17): the (positive, negative) kinds of each memory's triplets
TRIPLET_PAIRS = {"click": ("click", "unclick"), "unclick": ("unclick", "click"),
                 "like": ("like", "dislike"), "dislike": ("dislike", "like"), ALL: ("click", "unclick")}
# eq. (6)-(7): implicit kind -> the explicit kind it is purified by
PURIFIED_BY = {"click": "dislike", "unclick": "like"}


def _choice(config, key, allowed):
    value = config[key]
    if value not in allowed:
        raise ValueError(f"DUMN: {key} = {value!r}; expected one of {', '.join(map(repr, allowed))}")
    return value


def _flag(config, key):
    value = config[key]
    if not isinstance(value, bool):
        raise ValueError(f"DUMN: {key} = {value!r}; expected True or False")
    return value


class InterestExtractor(nn.Module):
    r"""One history's short-term interest :math:`f` (eq. 1-5): multi-head self-attention
    then target attention of (user, item). Input: ``query`` [B, Q], ``elements`` [B, T,
    D], ``mask`` [B, T]. Output: [B, D] (0 for an empty history)."""

    def __init__(self, query_size, dim, n_heads, length):
        super().__init__()
        self.self_attention = MultiHeadSelfAttention(dim, n_heads, length)
        self.target_attention = TargetAttention(query_size, dim)

    def forward(self, query, elements, mask):
        return self.target_attention(query, self.self_attention(elements, mask), mask)


class PreferenceInteraction(nn.Module):
    r"""PAIR (eq. 13) and its Table-4 alternatives: the cross representation :math:`U`
    of a short-term vector ``f`` [B, D] and a long-term vector ``r`` [B, Z] (None without
    memory). ``out_size`` is U's size."""

    def __init__(self, mode, dim, slot_size, with_memory):
        super().__init__()
        self.mode, self.with_memory = mode, with_memory
        if mode == "gate" or not with_memory:
            self.gate_short = nn.Linear(dim, dim, bias=False)  # W_1
        if not with_memory:
            self.out_size = dim
            return
        if mode == "gate":
            self.gate_long = nn.Linear(slot_size, slot_size, bias=False)  # W_2
            self.out_size = dim + slot_size
        elif mode == "concat":
            self.out_size = dim + slot_size
        elif mode == "cross":
            self.to_slot = nn.Linear(dim, slot_size, bias=False)
            self.out_size = 3 * slot_size
        else:  # ffn
            self.short_ffn = nn.Linear(dim, slot_size)
            self.long_ffn = nn.Linear(slot_size, slot_size)
            self.out_size = 2 * slot_size

    def forward(self, short, long):
        if not self.with_memory:
            return short * torch.sigmoid(self.gate_short(short))
        if self.mode == "gate":
            return torch.cat([short * torch.sigmoid(self.gate_short(short)),
                              long * torch.sigmoid(self.gate_long(long))], dim=-1)
        if self.mode == "concat":
            return torch.cat([short, long], dim=-1)
        if self.mode == "cross":
            mapped = self.to_slot(short)
            return torch.cat([mapped + long, mapped - long, mapped * long], dim=-1)
        return torch.cat([torch.relu(self.short_ffn(short)), torch.relu(self.long_ffn(long))], dim=-1)


class DUMN(ContextRecommender):
    r"""Denoising user-aware memory network: a CTR model over four feedback histories.

    Each history (click, unclick, like, dislike) gives a short-term interest by
    self-attention and target attention (eq. 1-5); the implicit ones are purified by the
    explicit ones through orthogonal projection (eq. 6-7); four memories shared by all
    users give long-term interests (eq. 8-12), fused with the short-term ones by the PAIR
    gate (eq. 13-14); an MLP of (user, item, R_cross) gives the click logit (eq. 15).
    Pointwise training: BCE (eq. 16) plus the memories' triplet loss (eq. 17-20).
    The module docstring lists every choice the paper leaves open and the ablations.
    """

    input_type = InputType.POINTWISE
    dataset_class = FeedbackHistoryDataset

    def __init__(self, config, dataset):
        super(DUMN, self).__init__(config, dataset)

        # load parameters info
        d = self.embedding_size  # size of one field's embedding (paper: 16)
        self.history_length = config["history_length"]  # T (paper: 100)
        self.n_heads = config["n_heads"]  # H of eq. (1)
        self.memory_slots = config["memory_slots"]  # m (paper: 256)
        self.slot_size = config["memory_size"]  # Z (paper: 64)
        self.controller_hidden_size = config["controller_hidden_size"]  # the memory FFN (paper: 512)
        self.key_strength = config["key_strength"]  # multiplies the cosine of eq. (9); 1 = the paper
        self.purification = _flag(config, "purification")  # False: DUMN-FP
        self.memory_mode = _choice(config, "memory", MEMORIES)  # shared: DUMN+UMN1, none: DUMN-UMN
        self.feedback = _choice(config, "feedback", FEEDBACKS)  # implicit: DUMN_IF, merged: DUMN_AF
        self.pair = _choice(config, "pair", PAIRS)  # PAIR of eq. (13) or a Table-4 alternative
        self.triplet_loss = _flag(config, "triplet_loss")  # False: DUMN-TL
        self.triplet_sampling = _choice(config, "triplet_sampling", TRIPLET_SAMPLINGS)  # random: DUMN_RS
        self.triplet_margin = config["triplet_margin"]  # margin of eq. (17), not in the paper
        self.triplet_weight = config["triplet_weight"]  # lambda of L = L_1 + lambda L_2 (paper: 1)
        self.mlp_hidden_size = config["mlp_hidden_size"]  # hidden widths of the output FFN (eq. 15)
        self.dropout_prob = config["dropout_prob"]  # dropout before each output FFN layer
        self.USER_ID, self.ITEM_ID = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        self.TIME = config["TIME_FIELD"]  # float64 in the batch (FeedbackHistoryDataset)
        self._check_numbers()
        self._resolve_ablations(dataset.logger if hasattr(dataset, "logger") else None)

        # data: the dataset's histories (non-persistent buffers: move with the model, never saved)
        self.histories = dataset.feedback_histories
        self.user_fields, self.item_fields = self._profile_fields(dataset)
        self.history_fields = self._history_fields()
        self.kinds = {"all_kinds": KINDS, "implicit": ("click", "unclick"), "merged": (ALL,)}[self.feedback]
        if self.feedback == "merged":
            self.histories.n_events(ALL)  # builds the merged view's buffers now, before any .to(device)
        element_size = len(self.history_fields) * d  # D
        user_size, item_size = len(self.user_fields) * d, len(self.item_fields) * d
        self.element_size = element_size

        # define layers and loss
        self.extractors = nn.ModuleDict({kind: InterestExtractor(user_size + item_size, element_size,
                                                                 self.n_heads, self.history_length)
                                         for kind in self.kinds})
        if self.feedback == "merged":
            self.kind_embedding = nn.Embedding(len(KINDS), element_size)
        with_memory = self.memory_mode != "none"
        if with_memory:
            self.controllers = nn.ModuleDict({kind: MemoryController(element_size + user_size,
                                                                     self.controller_hidden_size, self.slot_size)
                                              for kind in self.kinds})
            # which memory each kind reads and writes
            self.memory_of = {kind: 0 if self.memory_mode == "shared" else index
                              for index, kind in enumerate(self.kinds)}
            n_memories = 1 if self.memory_mode == "shared" else len(self.kinds)
            # shared by all users, written by eq. (12) only; persistent: saved and restored with the model
            self.register_buffer("memory", torch.randn(n_memories, self.memory_slots, self.slot_size,
                                                       device=self.device) / self.slot_size ** 0.5)
        self.pairs = nn.ModuleDict({kind: PreferenceInteraction(self.pair, element_size, self.slot_size, with_memory)
                                    for kind in self.kinds})
        cross_size = sum(module.out_size for module in self.pairs.values())
        mlp_sizes = [user_size + item_size + cross_size] + list(self.mlp_hidden_size)
        self.mlp = MLPLayers(mlp_sizes, self.dropout_prob)  # eq. (15)'s FFN
        self.predict_layer = nn.Linear(mlp_sizes[-1], 1)
        if self.triplet_loss:
            self.sample_projection = nn.Linear(element_size, self.slot_size, bias=False)  # s -> memory space
            self.triplet = MemoryTripletLoss(self.triplet_margin, self.triplet_sampling)
        self.bce = nn.BCEWithLogitsLoss()

        # parameters initialization
        self.apply(self._init_weights)

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Embedding):
            nn.init.xavier_normal_(module.weight)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def _check_numbers(self):
        for key, value in (("history_length", self.history_length), ("n_heads", self.n_heads),
                           ("memory_slots", self.memory_slots), ("memory_size", self.slot_size),
                           ("controller_hidden_size", self.controller_hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DUMN: {key} = {value!r}; expected a positive integer")
        for key, value in (("triplet_margin", self.triplet_margin), ("triplet_weight", self.triplet_weight),
                           ("key_strength", self.key_strength)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"DUMN: {key} = {value!r}; expected a number >= 0")

    def _resolve_ablations(self, logger):
        """Switch off what an ablation makes impossible, with a WARNING (the paper's IF and
        AF do not purify; without memory there is no triplet loss)."""
        if self.purification and self.feedback != "all_kinds":
            if logger is not None:
                logger.warning(f"DUMN: purification needs the like and dislike histories; it is off under "
                               f"feedback = {self.feedback!r} (as in the paper's IF / AF)")
            self.purification = False
        if self.triplet_loss and self.memory_mode == "none":
            if logger is not None:
                logger.warning("DUMN: triplet_loss regularises memory writes; it is off under memory = 'none'")
            self.triplet_loss = False

    def _profile_fields(self, dataset):
        """Token fields of the user profile (user id first) and of the target item (item id
        first); an error for inputs DUMN cannot embed."""
        if self.float_field_names or self.float_seq_field_names:
            raise ValueError(f"DUMN: numerical_features = {self.numerical_features!r}; DUMN embeds token fields "
                             f"only, expected []")
        users = [f for f in dataset.fields(source=[FeatureSource.USER_ID, FeatureSource.USER])
                 if f in self.token_field_names]
        items = [f for f in dataset.fields(source=[FeatureSource.ITEM_ID, FeatureSource.ITEM])
                 if f in self.token_field_names]
        return users, items

    def _history_fields(self):
        fields = tuple(self.histories.field_names)
        for field in fields:
            if field not in self.item_fields:
                raise ValueError(f"DUMN: history_item_fields names [{field}], which is not a token field of the "
                                 f"target item ({self.item_fields}); a history element is embedded with the item's "
                                 f"tables")
        return fields

    # ------------------------------------------------------------------ embedding layer
    def embed_field(self, field, ids):
        """Embedding of ``ids`` (any shape) in the table of token field ``field``: [..., d]."""
        offset = int(self.token_field_offsets[self.token_field_names.index(field)])
        return self.token_embedding_table.embedding(ids + offset)

    def embed_fields(self, fields, values):
        """Concatenated embeddings of ``fields`` read from ``values`` (a dict or Interaction)."""
        return torch.cat([self.embed_field(field, values[field]) for field in fields], dim=-1)

    # ------------------------------------------------------------------ forward
    def short_term_interests(self, interaction, query):
        """``{kind: f_kind}`` [B, D] of eq. (1)-(5), purified by eq. (6)-(7) when enabled."""
        users, times = interaction[self.USER_ID], interaction[self.TIME]
        interests = {}
        for kind in self.kinds:
            ids, mask, kind_ids = self.histories.window(kind, users, times, self.history_length)
            elements = self.embed_fields(self.history_fields, ids)
            if kind == ALL:
                elements = elements + self.kind_embedding(kind_ids)
            interests[kind] = self.extractors[kind](query, elements, mask)
        if self.purification:
            interests = {kind: orthogonal_purification(vector, interests[PURIFIED_BY[kind]])
                         if kind in PURIFIED_BY else vector for kind, vector in interests.items()}
        return interests

    def read_memories(self, interests, user_embedding):
        """``({kind: r_kind} [B, Z] of eq. (8)-(11), {kind: controller outputs})``."""
        reads, controls = {}, {}
        for kind, short in interests.items():
            control = self.controllers[kind](torch.cat([short, user_embedding], dim=-1))
            memory = self.memory[self.memory_of[kind]]
            reads[kind] = memory_read(cosine_addressing(control["read_key"], memory, self.key_strength), memory)
            controls[kind] = control
        return reads, controls

    def forward(self, interaction):
        """Click logits [B] (eq. 15 before the sigmoid) and the state the loss needs."""
        user_embedding = self.embed_fields(self.user_fields, interaction)
        item_embedding = self.embed_fields(self.item_fields, interaction)
        query = torch.cat([user_embedding, item_embedding], dim=-1)
        interests = self.short_term_interests(interaction, query)
        reads, controls = ({kind: None for kind in interests}, {})
        if self.memory_mode != "none":
            reads, controls = self.read_memories(interests, user_embedding)
        cross = torch.cat([self.pairs[kind](interests[kind], reads[kind]) for kind in self.kinds], dim=-1)  # eq. 14
        logits = self.predict_layer(self.mlp(torch.cat([query, cross], dim=-1))).squeeze(-1)
        return logits, {"controls": controls}

    # ------------------------------------------------------------------ loss and memory writes
    def triplet_losses(self, interaction, controls):
        """``{kind: L_kind}`` of eq. (17)-(19) for each memory reader."""
        users, times = interaction[self.USER_ID], interaction[self.TIME]
        needed = sorted({k for kind in self.kinds for k in TRIPLET_PAIRS[kind]}, key=KINDS.index)
        samples = {}
        for kind in needed:
            ids, valid = self.histories.sample(kind, users, times)
            samples[kind] = (self.sample_projection(self.embed_fields(self.history_fields, ids)), valid)
        losses = {}
        for kind in self.kinds:
            control = controls[kind]
            memory = self.memory[self.memory_of[kind]]
            weights = cosine_addressing(control["write_key"], memory, self.key_strength)
            anchors = read_after_own_write(memory, weights, control["erase"], control["add"])  # eq. (18)
            positive, negative = TRIPLET_PAIRS[kind]
            losses[kind] = self.triplet(anchors, *samples[positive], *samples[negative])
        return losses

    @torch.no_grad()
    def write_memories(self, controls):
        """Eq. (12) for every memory reader, batch-mean writes; the buffer is replaced (not
        changed in place) so the graph of this step's loss keeps the memory it read."""
        memory = self.memory.clone()
        for kind in self.kinds:
            control = controls[kind]
            index = self.memory_of[kind]
            weights = cosine_addressing(control["write_key"], memory[index], self.key_strength)
            memory[index] = memory_write(memory[index], weights, control["erase"], control["add"])
        self.memory = memory

    def calculate_loss(self, interaction):
        logits, state = self.forward(interaction)
        loss = self.bce(logits, interaction[self.LABEL].float())  # eq. (16)
        if self.triplet_loss:
            loss = loss + self.triplet_weight * sum(self.triplet_losses(interaction, state["controls"]).values())
        if self.training and self.memory_mode != "none":
            self.write_memories(state["controls"])
        return loss

    def predict(self, interaction):
        return torch.sigmoid(self.forward(interaction)[0])
