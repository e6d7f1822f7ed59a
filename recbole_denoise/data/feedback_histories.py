"""recbole_denoise.data.feedback_histories
###########################################
``FeedbackHistories``: every user's feedback events (click, unclick, like, dislike)
stored once, and the leak-free history windows DUMN (Bian et al., RecSys 2021) reads
per batch.

Each sample (user u, time t) sees only u's events with time strictly before t (equal
timestamps are not "before"). Materialising samples x kinds x T ids would take tens of
GB at Taobao scale, so the events are kept once, per kind, sorted by (user, time), and
a batch's windows are cut with ``searchsorted`` and index arithmetic:

- every event time is ranked against the sorted unique event times (float64, exact);
- an event's key is ``user * (n_ranks + 1) + rank``; keys of a kind are sorted (CSR:
  user u's events are positions ``[offsets[u], offsets[u + 1])``), so the events of
  user u strictly before t are positions ``[offsets[u], end)`` with
  ``end = searchsorted(keys, u * (n_ranks + 1) + rank_left(t))``, where ``rank_left(t)``
  is the number of unique event times below t;
- a window is the last ``length`` positions of that range, right-aligned.

Memory grows with the number of events (one int64 key and one int32 id per field and
event, per kind; plus one int64 offset per user and kind), never with samples x T. The
merged "all" view (every kind in one time-ordered history, DUMN's AF ablation) doubles
that, so it is built on first use.
"""

import torch

KINDS = ("click", "unclick", "like", "dislike")
ALL = "all"  # the merged view: every kind in one time-ordered history


class FeedbackHistories(torch.nn.Module):
    """Every user's events once, per kind, sorted by (user, time): CSR offsets + one int64
    key per event; memory grows with events, not samples x T. All tensors are
    non-persistent buffers (they move with ``.to(device)`` and are never in checkpoints).

    Ties (one user, one time) keep the input order; in "all" they follow the order of
    KINDS. Ids are stored as int32 when they fit (int64 otherwise) and kinds as int8, so
    an event of a single-kind view costs 8 + 4 x fields bytes (20 with three fields),
    plus 8 bytes per user for the view's offsets; every query returns int64.

    Build with :meth:`from_events`; query with :meth:`window`, :meth:`count` and
    :meth:`sample` (``kind`` is one of :data:`KINDS`, or ``"all"``).
    """

    def __init__(self, field_names, n_users, unique_times, views):
        super().__init__()
        self.field_names = tuple(field_names)
        self.n_users = int(n_users)
        self.register_buffer("unique_times", unique_times, persistent=False)
        self._views = set()
        for view, tensors in views.items():
            self._register_view(view, tensors)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_events(cls, users, times, kinds, fields, n_users):
        """Build from flat event arrays (any order).

        Args:
            users: int64 [E], user ids in ``[0, n_users)``.
            times: float64 [E], event times (finite).
            kinds: int64 [E], index into :data:`KINDS`.
            fields: dict name -> int64 [E]; item_id first, then item features; 0 is
                padding in every field.
            Integer arrays of narrower types (int32 ids, int8 kinds) are used as they are,
            not widened: at Taobao scale (56M events) each int64 copy costs 450 MB.
            n_users: number of user ids (RecBole's ``user_num``, padding id 0 included).
        """
        users, times, kinds, fields = _checked_events(users, times, kinds, fields, n_users)
        unique_times = torch.unique(times)  # sorted
        ranks = torch.searchsorted(unique_times, times)
        keys = users.long() * (unique_times.numel() + 1) + ranks
        del ranks
        fields = {name: _compact(values) for name, values in fields.items()}
        views = {}
        for kind_id, kind in enumerate(KINDS):
            chosen = torch.nonzero(kinds == kind_id).squeeze(1)
            views[kind] = _sorted_view(keys[chosen], {name: values[chosen] for name, values in fields.items()})
        return cls(fields.keys(), n_users, unique_times, views)

    def _register_view(self, view, tensors):
        self.register_buffer(f"{view}_keys", tensors["keys"], persistent=False)
        user_starts = torch.arange(self.n_users + 1, device=tensors["keys"].device) * self._stride
        self.register_buffer(f"{view}_offsets", torch.searchsorted(tensors["keys"], user_starts), persistent=False)
        if "kind_ids" in tensors:  # a single-kind view's kind is its name
            self.register_buffer(f"{view}_kind_ids", tensors["kind_ids"], persistent=False)
        for index, name in enumerate(self.field_names):
            self.register_buffer(f"{view}_field{index}", tensors["fields"][name], persistent=False)
        self._views.add(view)

    def _merged_view(self):
        """Every kind in one (user, time)-sorted history; ties keep the order of KINDS."""
        keys = torch.cat([getattr(self, f"{kind}_keys") for kind in KINDS])
        kind_ids = torch.cat([torch.full_like(getattr(self, f"{kind}_keys"), index, dtype=torch.int8)
                              for index, kind in enumerate(KINDS)])
        fields = {name: torch.cat([getattr(self, f"{kind}_field{index}") for kind in KINDS])
                  for index, name in enumerate(self.field_names)}
        return _sorted_view(keys, fields, kind_ids)

    @property
    def _stride(self):
        return self.unique_times.numel() + 1  # keys are user * stride + time rank

    def _view(self, kind):
        """``(offsets, keys, fields, kind_ids)`` of a view; ``kind_ids`` is an int for a single kind."""
        if kind not in KINDS and kind != ALL:
            raise ValueError(f"kind [{kind}] is not a feedback kind; expected one of {KINDS + (ALL,)}")
        if kind not in self._views:
            self._register_view(kind, self._merged_view())
        keys = getattr(self, f"{kind}_keys")
        fields = {name: getattr(self, f"{kind}_field{index}") for index, name in enumerate(self.field_names)}
        kind_ids = getattr(self, f"{kind}_kind_ids") if kind == ALL else KINDS.index(kind)
        return getattr(self, f"{kind}_offsets"), keys, fields, kind_ids

    # ------------------------------------------------------------------ queries
    @property
    def device(self):
        return self.unique_times.device

    def n_events(self, kind):
        """Number of stored events of ``kind`` (all users, all times)."""
        return self._view(kind)[1].numel()

    def _ranges(self, offsets, keys, users, times):
        """``(start, end)`` [B]: positions in ``keys`` of each user's events strictly before
        its time."""
        users, times = self._checked_query(users, times)
        rank_left = torch.searchsorted(self.unique_times, times)  # unique times < t
        end = torch.searchsorted(keys, users * self._stride + rank_left)
        return offsets[users], end

    def window(self, kind, users, times, length):
        """The most recent ``length`` events of ``kind`` strictly before each time.

        Args:
            kind: one of :data:`KINDS`, or ``"all"`` (every kind merged in time order).
            users: LongTensor [B]; times: float64 Tensor [B].
            length: window length T.

        Returns:
            ``(ids, mask, kind_ids)``: ``ids`` dict field -> LongTensor [B, T], most recent
            last (right-aligned); ``mask`` BoolTensor [B, T], False at left padding, where
            every id is 0; ``kind_ids`` LongTensor [B, T], index into KINDS of each
            element, 0 at padding.
        """
        if int(length) < 1:
            raise ValueError(f"history length must be a positive integer, got {length!r}")
        offsets, keys, fields, kind_ids = self._view(kind)
        start, end = self._ranges(offsets, keys, users, times)
        positions = end.unsqueeze(1) - int(length) + torch.arange(int(length), device=self.device)
        mask = positions >= start.unsqueeze(1)
        ids = {name: _gather(values, positions, mask) for name, values in fields.items()}
        if isinstance(kind_ids, int):
            return ids, mask, mask.long() * kind_ids
        return ids, mask, _gather(kind_ids, positions, mask)

    def count(self, kind, users, times):
        """LongTensor [B]: number of events of ``kind`` strictly before each time."""
        offsets, keys, _, _ = self._view(kind)
        start, end = self._ranges(offsets, keys, users, times)
        return end - start

    def sample(self, kind, users, times, generator=None):
        """One event per row, drawn uniformly from ALL of the user's events of ``kind``
        strictly before its time (not only the T-window), as DUMN's triplet loss needs.

        Returns:
            ``(ids, valid)``: ``ids`` dict field -> LongTensor [B] (0 where invalid);
            ``valid`` BoolTensor [B], False where the user has no such event yet.
        """
        offsets, keys, fields, _ = self._view(kind)
        start, end = self._ranges(offsets, keys, users, times)
        counts = end - start
        draw_device = generator.device if generator is not None else self.device
        uniform = torch.rand(counts.shape, generator=generator, dtype=torch.float64,
                             device=draw_device).to(self.device)
        offset = torch.minimum((uniform * counts).long(), (counts - 1).clamp(min=0))
        valid = counts > 0
        positions = start + offset
        return {name: _gather(values, positions, valid) for name, values in fields.items()}, valid

    def _checked_query(self, users, times):
        if users.shape != times.shape or users.dim() != 1:
            raise ValueError(f"users and times must be 1-d of one length, got shapes "
                             f"{tuple(users.shape)} and {tuple(times.shape)}")
        if times.dtype != torch.float64:
            # float32 rounds a Taobao second (1.49e9) to 128 s: ties would leak
            raise ValueError(f"times must be float64 (exact timestamps), got {times.dtype}")
        users = users.to(self.device, torch.long)
        outside = (users < 0) | (users >= self.n_users)
        if outside.any():  # would index past the offsets, or wrap around to the last user
            raise ValueError(f"user ids must lie in [0, {self.n_users}) (the histories' users), got "
                             f"{int(users[outside][0])}")
        return users, times.to(self.device)

    def extra_repr(self):
        counts = ", ".join(f"{kind}={getattr(self, f'{kind}_keys').numel()}" for kind in KINDS)
        return f"n_users={self.n_users}, fields={self.field_names}, events: {counts}"


def _sorted_view(keys, fields, kind_ids=None):
    order = torch.argsort(keys, stable=True)
    view = {"keys": keys[order].contiguous(),
            "fields": {name: values[order].contiguous() for name, values in fields.items()}}
    if kind_ids is not None:
        view["kind_ids"] = kind_ids[order].contiguous()
    return view


def _compact(ids):
    """int32 when every id fits (halves the memory of a field), else int64."""
    if ids.numel() == 0 or int(ids.max()) <= torch.iinfo(torch.int32).max:
        return ids.to(torch.int32)
    return ids


def _gather(values, positions, valid):
    """``values[positions]`` as int64 where ``valid``, 0 elsewhere (positions may be out of
    range there)."""
    if values.numel() == 0:
        return torch.zeros(positions.shape, dtype=torch.long, device=positions.device)
    picked = values[positions.clamp(0, values.numel() - 1)].long()
    return torch.where(valid, picked, torch.zeros_like(picked))


def _integers(values):
    """A flat integer tensor: integer input keeps its type (no widened copy), anything else becomes int64."""
    values = torch.as_tensor(values).reshape(-1)
    if values.dtype in (torch.int8, torch.int16, torch.int32, torch.int64):
        return values
    return values.long()


def _checked_events(users, times, kinds, fields, n_users):
    """The event arrays as flat tensors of the right dtypes, or a ValueError naming the problem."""
    users = _integers(users)
    times = torch.as_tensor(times)
    if times.dtype != torch.float64:
        raise ValueError(f"event times must be float64 (exact timestamps), got {times.dtype}")
    times = times.reshape(-1)
    kinds = _integers(kinds)
    if not fields:
        raise ValueError("fields must name at least one history field (item_id first)")
    fields = {name: _integers(values) for name, values in fields.items()}
    n_events = users.numel()
    for name, array in [("times", times), ("kinds", kinds)] + [(f"fields[{k}]", v) for k, v in fields.items()]:
        if array.numel() != n_events:
            raise ValueError(f"{name} has {array.numel()} events, users has {n_events}")
    if n_events:
        if users.min() < 0 or users.max() >= n_users:
            raise ValueError(f"user ids must lie in [0, {n_users}), got [{int(users.min())}, {int(users.max())}]")
        if kinds.min() < 0 or kinds.max() >= len(KINDS):
            raise ValueError(f"kinds must index KINDS {KINDS}, got values in "
                             f"[{int(kinds.min())}, {int(kinds.max())}]")
        for name, values in fields.items():
            if values.min() < 0:
                raise ValueError(f"fields[{name}]: ids must be >= 0 (0 is padding), got {int(values.min())}")
        if not torch.isfinite(times).all():
            raise ValueError(f"event times must be finite; {int((~torch.isfinite(times)).sum())} are not")
    return users, times, kinds, fields
