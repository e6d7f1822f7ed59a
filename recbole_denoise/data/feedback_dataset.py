"""recbole_denoise.data.feedback_dataset
#########################################
``FeedbackHistoryDataset``: samples (impressions) with the click / unclick / like /
dislike histories that DUMN (Bian et al., RecSys 2021) reads, leak-free and
O(events) in memory (layout in ``docs/feedback_data.md``).

Events come from two places, in one id space:

- every ``.inter`` row (before the split): ``click`` 1 -> a click event, 0 -> an
  unclick, ``like`` 1 -> a like, ``dislike`` 1 -> a dislike (an empty cell: no event),
  at the row's time, with the row's item and that item's features from ``.item``;
- the optional ``.feedback`` file (``user_id timestamp kind item_id <item features>``):
  history events that are not samples (Taobao's behaviour log). ``[NO_ITEM]`` is the
  placeholder item token of events whose source logs no item; such an event carries
  its own feature values (an empty feature cell takes the item's value from ``.item``).

A sample only ever reads events strictly before its own time, so histories built from
all rows are leak-free under a time-ordered split; the split copies share one
:class:`FeedbackHistories`. ``TIME_FIELD`` stays float64 in the Interaction (RecBole
would make it float32, which rounds a Taobao second to 128 s).
"""

import os

import numpy as np
import pandas as pd
import torch
from recbole.utils import FeatureSource, FeatureType, set_color

from recbole_denoise.data.dataset import DenoiseDataset
from recbole_denoise.data.feedback_histories import KINDS, FeedbackHistories

NO_ITEM = "[NO_ITEM]"  # item token of .feedback events whose source logs no item id
KIND_FIELD = "kind"  # column of .feedback naming the event's kind
MARKED_KINDS = ("click", "like", "dislike")  # kinds a .inter column marks (unclick = click 0)

# Defaults of the contract keys (properties/model/DUMN.yaml has them too), used when a key is absent.
DEFAULTS = {
    "feedback_fields": {"click": "click", "like": "like", "dislike": "dislike"},
    "feedback_events": "feedback",
    "history_item_fields": None,  # None: the item id and every token field of .item
    "history_length": 100,
}


class FeedbackHistoryDataset(DenoiseDataset):
    """``DenoiseDataset`` of samples that also holds every user's feedback events.

    ``dataset.feedback_histories`` (a :class:`FeedbackHistories`, built once from all
    ``.inter`` rows and the ``.feedback`` events) gives each sample's windows by
    (user, time); the feedback columns are hidden from the fields models embed, since
    one of them is usually the label.
    """

    def __init__(self, config):
        self._feedback_events = None
        self._warned = set()
        super().__init__(config)

    # ------------------------------------------------------------------ config
    def _setting(self, key):
        value = self.config[key]
        return DEFAULTS[key] if value is None and key not in self.config else value

    def _feedback_columns(self):
        """``{kind: .inter column}`` for the kinds a column marks (absent kinds left out)."""
        fields = self._setting("feedback_fields")
        if fields is None:
            return {}
        if not isinstance(fields, dict) or not set(fields) <= set(MARKED_KINDS):
            raise ValueError(f"feedback_fields = {fields!r}: expected a dict from some of {MARKED_KINDS} to an "
                             f".inter column (or ~ for an absent kind); unclick events are rows with click 0")
        return {kind: column for kind, column in fields.items() if column is not None}

    def history_item_fields(self):
        """The fields a history element carries, item id first."""
        fields = self._setting("history_item_fields")
        if fields is None:
            item_tokens = [] if self.item_feat is None else [
                f for f in self.item_feat.columns if self.field2type[f] == FeatureType.TOKEN and f != self.iid_field]
            return [self.iid_field] + item_tokens
        if not isinstance(fields, (list, tuple)) or not fields or fields[0] != self.iid_field:
            raise ValueError(f"history_item_fields = {fields!r}: expected a list starting with the item id "
                             f"field [{self.iid_field}], then token fields of .item")
        item_columns = [] if self.item_feat is None else list(self.item_feat.columns)
        for field in fields[1:]:
            if field not in item_columns or self.field2type[field] != FeatureType.TOKEN:
                raise ValueError(f"history_item_fields names [{field}], which is not a token field of "
                                 f"{self.dataset_name}.item (loaded: {item_columns}); add it to load_col['item']")
        return list(fields)

    def _check_history_length(self):
        length = self._setting("history_length")
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"history_length = {length!r}: expected a positive integer (T, the window length)")

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(message)

    # ------------------------------------------------------------------ loading
    def _load_feat(self, filepath, source):
        """RecBole's ``_load_feat`` for atomic files of plain token / float columns, parsed by
        pandas' C reader with token columns as categoricals (int codes + one string per
        distinct token). RecBole's Python reader keeps a Python string per token cell: at
        Taobao scale (26M samples) it alone took over 8 GB. Other files go to RecBole."""
        separator = self.config["field_separator"]
        with open(filepath, "r", encoding=self.config["encoding"]) as handle:
            header = [column.split(":") for column in handle.readline()[:-1].split(separator)]
        plain = (FeatureType.TOKEN.value, FeatureType.FLOAT.value)
        if not isinstance(source, FeatureSource) or len(separator) != 1 or any(
                len(column) != 2 or column[1] not in plain for column in header):
            return super()._load_feat(filepath, source)
        load_col, unload_col = self._get_load_and_unload_col(source)
        if load_col == set():
            return None
        names, dtypes = [], {}
        for field, ftype in header:
            if (load_col is not None and field not in load_col) or (unload_col is not None and field in unload_col):
                continue
            ftype = FeatureType(ftype)
            self.field2source[field], self.field2type[field], self.field2seqlen[field] = source, ftype, 1
            if ftype == FeatureType.FLOAT:
                self.field2bucketnum[field] = 2
            names.append(field)
            dtypes[f"{field}:{ftype.value}"] = np.float64 if ftype == FeatureType.FLOAT else "category"
        if not names:
            self.logger.warning(f"No columns has been loaded from [{source}]")
            return None
        frame = read_categorical_csv(filepath, separator, dtypes, self.config["encoding"])
        frame.columns = names
        return frame

    def _load_inter_feat(self, token, dataset_path):
        if self.benchmark_filename_list is None:
            super()._load_inter_feat(token, dataset_path)
        else:
            self._load_inter_parts(token, dataset_path)
        self._check_history_length()
        self._check_inter_columns(self._inter_files(token, dataset_path))

    def _load_inter_parts(self, token, dataset_path):
        """RecBole's loading of ``<token>.<part>.inter`` (``benchmark_filename``), keeping token
        columns categorical: ``pd.concat`` of categoricals with different categories gives
        object columns (a pointer per cell, and RecBole's factorize of 26M strings)."""
        parts, seqlen = [], {}
        for part in self.benchmark_filename_list:
            path = os.path.join(dataset_path, f"{token}.{part}.inter")
            if not os.path.isfile(path):
                raise ValueError(f"File {path} not exist.")
            parts.append(self._load_feat(path, FeatureSource.INTERACTION))
            seqlen = {field: max(seqlen.get(field, 0), length) for field, length in self.field2seqlen.items()}
        self.file_size_list = [len(frame) for frame in parts]
        self.inter_feat = _concat_keeping_categories(parts)
        self.field2seqlen = seqlen

    def _inter_files(self, token, dataset_path):
        """``[(path, rows)]`` of the interaction files, in the order their rows were concatenated."""
        if self.benchmark_filename_list is None:
            return [(os.path.join(dataset_path, f"{token}.inter"), len(self.inter_feat))]
        return [(os.path.join(dataset_path, f"{token}.{part}.inter"), rows)
                for part, rows in zip(self.benchmark_filename_list, self.file_size_list)]

    def _check_inter_columns(self, files):
        """Time present and numeric; each feedback column 0, 1 or empty (errors name file, line, field)."""
        feat, path = self.inter_feat, files[0][0]
        if self.time_field is None or self.time_field not in feat:
            raise ValueError(f"TIME_FIELD = {self.time_field!r}: {path} must have this float column (load it in "
                             f"load_col['inter']); histories are cut by time")
        if self.field2type[self.time_field] != FeatureType.FLOAT:
            raise ValueError(f"TIME_FIELD = {self.time_field!r}: {path} declares it "
                             f"{self.field2type[self.time_field].value}, expected float")
        missing = np.flatnonzero(np.isnan(feat[self.time_field].to_numpy(np.float64)))
        if missing.size:
            raise ValueError(f"{_location(files, missing[0])}, field [{self.time_field}]: empty, expected a number")
        for kind, column in self._feedback_columns().items():
            if column not in feat or self.field2type[column] != FeatureType.FLOAT:
                raise ValueError(f"feedback_fields.{kind} = {column!r}: expected a float column of {path} loaded "
                                 f"by load_col['inter'] (loaded: {list(feat.columns)}), or ~ when the kind is absent")
            values = feat[column].to_numpy(np.float64)
            bad = np.flatnonzero(~(np.isnan(values) | (values == 0) | (values == 1)))
            if bad.size:
                raise ValueError(f"{_location(files, bad[0])}, field [{column}]: {values[bad[0]]!r} is not 0, 1 "
                                 f"or empty")

    def _load_additional_feat(self, token, dataset_path):
        super()._load_additional_feat(token, dataset_path)
        suffix = self._setting("feedback_events")
        if suffix is None:
            return
        path = os.path.join(dataset_path, f"{token}.{suffix}")
        if not os.path.isfile(path):
            self._warn_once("events", f"feedback_events = {suffix!r} but there is no {path}: histories come from "
                                      f".inter rows only (set feedback_events: ~ to silence this)")
            return
        self._feedback_events = self._read_feedback_file(path)

    def _read_feedback_file(self, path):
        """The ``.feedback`` events as a DataFrame: token columns categorical, time float64, kind as KINDS index."""
        separator = self.config["field_separator"]
        with open(path, encoding=self.config["encoding"]) as handle:
            header = handle.readline().rstrip("\n").split(separator)
        names, dtypes = [], {}
        for column in header:
            name, _, ftype = column.partition(":")
            expected = "float" if name == self.time_field else "token"
            if ftype != expected:
                raise ValueError(f"{path}, line 1, field [{name}]: type {ftype!r}, expected {expected!r}")
            names.append(name)
            dtypes[column] = np.float64 if name == self.time_field else "category"
        required = [self.uid_field, self.time_field, KIND_FIELD, self.iid_field]
        missing = [name for name in required if name not in names]
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {missing}; expected {required} + item feature columns")
        try:
            events = read_categorical_csv(path, separator, dtypes, self.config["encoding"])
        except ValueError:  # a cell of the float column is not a number: find it (reads the column as text)
            self._raise_bad_time(path, separator, header[names.index(self.time_field)])
            raise
        events.columns = names
        _check_no_missing(events[self.time_field].to_numpy(np.float64), path, self.time_field, "a number")
        for name in (self.uid_field, KIND_FIELD, self.iid_field):
            _check_no_missing(events[name].cat.codes.to_numpy() < 0, path, name, f"a token ({NO_ITEM} for no item)",
                              as_mask=True)
        kind_of_token = np.array([KINDS.index(k) if k in KINDS else -1 for k in events[KIND_FIELD].cat.categories])
        kinds = kind_of_token[events[KIND_FIELD].cat.codes.to_numpy()]
        bad = np.flatnonzero(kinds < 0)
        if bad.size:
            raise ValueError(f"{path}, line {bad[0] + 2}, field [{KIND_FIELD}]: "
                             f"{events[KIND_FIELD].iloc[bad[0]]!r} is not one of {KINDS}")
        events[KIND_FIELD] = kinds
        self.logger.info(set_color("feedback events", "blue") + f": {len(events)} from [{path}]")
        return events

    def _raise_bad_time(self, path, separator, column):
        texts = pd.read_csv(path, sep=separator, usecols=[column], dtype=str, encoding=self.config["encoding"])[column]
        bad = np.flatnonzero(texts.notna().to_numpy() & pd.to_numeric(texts, errors="coerce").isna().to_numpy())
        if bad.size:
            raise ValueError(f"{path}, line {bad[0] + 2}, field [{self.time_field}]: {texts.iloc[bad[0]]!r} "
                             f"is not a number")

    # ------------------------------------------------------------------ remapping
    def _remap(self, remap_list):
        """RecBole's remapping of token fields (ids 1, 2, ... by first appearance over the
        listed columns in order; 0 for an empty cell), computed per distinct token of
        categorical columns instead of on one concatenated array of every token string."""
        if not remap_list or any(ftype != FeatureType.TOKEN for _, _, ftype in remap_list):
            return super()._remap(remap_list)
        columns = [_categorical(feat[field]) for feat, field, _ in remap_list]
        tokens = pd.Index([], dtype=object)
        for column in columns:
            seen = pd.unique(column.cat.codes.to_numpy())  # in order of first appearance
            new = column.cat.categories[seen[seen >= 0]]
            tokens = tokens.append(new[~new.isin(tokens)])
        id_token = np.array(["[PAD]"] + list(tokens))
        token_id = {token: index for index, token in enumerate(id_token)}
        for (feat, field, _), column in zip(remap_list, columns):
            if field not in self.field2id_token:
                self.field2id_token[field], self.field2token_id[field] = id_token, token_id
            id_of_category = tokens.get_indexer(column.cat.categories) + 1
            codes = column.cat.codes.to_numpy()
            feat[field] = np.where(codes < 0, 0, id_of_category[np.maximum(codes, 0)])

    def _remap_ID_all(self):
        super()._remap_ID_all()
        if self._feedback_events is not None:
            self._remap_feedback_events()

    def _remap_feedback_events(self):
        """Map the event tokens through the ids of ``.inter`` / ``.item`` / ``.user``; tokens only
        the events know (e.g. ``[NO_ITEM]``, a category no ad has) get new ids after them."""
        for name in self._feedback_events.columns:
            if name in (self.time_field, KIND_FIELD):
                continue
            if name not in self.field2id_token:
                if name != self.uid_field and name != self.iid_field:
                    self._warn_once(f"column {name}", f"{self.dataset_name}.{self._setting('feedback_events')}: "
                                                      f"column [{name}] is no field of .item: ignored")
                    self._feedback_events.drop(columns=name, inplace=True)
                    continue
            column = self._feedback_events[name]
            id_of_category = self._token_ids(name, column.cat.categories.to_numpy())
            codes = column.cat.codes.to_numpy()
            self._feedback_events[name] = np.where(codes < 0, 0, _narrow(id_of_category)[codes])

    def _token_ids(self, field, tokens):
        """Ids of ``tokens`` in ``field``, extending the field's vocabulary with unseen ones."""
        token_id = self.field2token_id[field]
        unseen = [token for token in tokens if token not in token_id]
        if unseen:
            start = len(self.field2id_token[field])
            self.field2id_token[field] = np.concatenate([self.field2id_token[field], np.array(unseen)])
            token_id.update({token: start + offset for offset, token in enumerate(unseen)})
        return np.array([token_id[token] for token in tokens], dtype=np.int64)

    # ------------------------------------------------------------------ building
    def _fill_nan(self):
        # RecBole fills an empty float cell with the column mean: read the feedback marks first
        marks = {kind: _mark_codes(self.inter_feat[column].to_numpy(np.float64))
                 for kind, column in self._feedback_columns().items()}
        super()._fill_nan()
        self.feedback_histories = self._build_histories(marks)

    def _build_histories(self, marks):
        fields = self.history_item_fields()
        item_table = self._item_table(fields)
        # narrow dtypes (int32 ids, int8 kinds): 25 bytes an event before the sort, not 56 (Taobao: 56M events)
        users, times, kinds, items = _inter_events(
            _narrow(self.inter_feat[self.uid_field].to_numpy()), self.inter_feat[self.time_field].to_numpy(np.float64),
            _narrow(self.inter_feat[self.iid_field].to_numpy()), marks)
        values = {name: item_table[name][items] for name in fields}
        del items
        if self._feedback_events is not None:
            events, self._feedback_events = self._feedback_events, None  # in the histories now
            event_items = events[self.iid_field].to_numpy()
            users = np.concatenate([users, _narrow(events[self.uid_field].to_numpy())])
            times = np.concatenate([times, events[self.time_field].to_numpy(np.float64)])
            kinds = np.concatenate([kinds, events[KIND_FIELD].to_numpy(np.int8)])
            for name in fields:
                from_item = item_table[name][event_items]
                own = events[name].to_numpy() if name in events else from_item
                values[name] = np.concatenate([values[name], np.where(own > 0, own, from_item)])
            del events, event_items, from_item, own
        histories = FeedbackHistories.from_events(
            torch.from_numpy(users), torch.from_numpy(times), torch.from_numpy(kinds),
            {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in values.items()}, self.user_num)
        columns = self._feedback_columns()
        for kind in KINDS:
            if histories.n_events(kind) == 0:
                marked_by = columns.get("click" if kind == "unclick" else kind)
                why = (f"feedback_fields.{kind} is ~" if marked_by is None and kind != "unclick"
                       else "no click column" if marked_by is None else f"no row has it in [{marked_by}]")
                self._warn_once(f"empty {kind}", f"dataset [{self.dataset_name}] has no {kind} events ({why}, "
                                                 f"none in .feedback): every {kind} history is empty")
        self.logger.info(set_color("feedback histories", "blue") + f": {histories.extra_repr()}")
        return histories

    def _item_table(self, fields):
        """``{field: int64 [item_num]}``: each item's value of every history field (0 where unknown)."""
        table = {self.iid_field: _narrow(np.arange(self.item_num, dtype=np.int64))}
        for name in fields[1:]:
            column = self.item_feat[name].to_numpy(np.float64)  # NaN for items without a row
            table[name] = _narrow(np.nan_to_num(column, nan=0.0).astype(np.int64))
        return table

    # ------------------------------------------------------------------ float64 time
    def _normalize(self):
        if self.time_field not in self.inter_feat:
            return super()._normalize()
        times = self.inter_feat[self.time_field].copy()
        super()._normalize()
        if not np.array_equal(self.inter_feat[self.time_field].to_numpy(), times.to_numpy()):
            self._warn_once("normalize", f"normalisation would rescale [{self.time_field}]: kept as is, since "
                                         f"histories are cut by the exact times")
            self.inter_feat[self.time_field] = times

    def _dataframe_to_interaction(self, data):
        interaction = super()._dataframe_to_interaction(data)
        if self.time_field in data:
            interaction.interaction[self.time_field] = torch.from_numpy(data[self.time_field].to_numpy(np.float64))
        return interaction

    def ground_truth_fields(self):
        """The feedback columns too: one of them is usually the label (never a model feature)."""
        return super().ground_truth_fields() | set(self._feedback_columns().values())


def _inter_events(users, times, items, marks):
    """Flat events of the ``.inter`` rows: click 1 -> click, 0 -> unclick, like 1 -> like,
    dislike 1 -> dislike (``marks``: :func:`_mark_codes` of each column); returns
    ``(users, times, kinds, items)``, kinds as int8."""
    rows, kinds = [], []
    for kind, values in marks.items():
        if kind == "click":
            for kind_id, chosen in ((KINDS.index("click"), values == 1), (KINDS.index("unclick"), values == 0)):
                rows.append(np.flatnonzero(chosen))
                kinds.append(np.full(rows[-1].size, kind_id, dtype=np.int8))
        else:
            rows.append(np.flatnonzero(values == 1))
            kinds.append(np.full(rows[-1].size, KINDS.index(kind), dtype=np.int8))
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    kinds = np.concatenate(kinds) if kinds else np.zeros(0, dtype=np.int8)
    return users[rows], times[rows], kinds, items[rows]


def read_categorical_csv(path, separator, dtypes, encoding, chunk_rows=2_000_000):
    """``pd.read_csv(path, usecols=list(dtypes), dtype=dtypes)`` by pandas' C reader, in chunks
    whose categorical columns are merged into one vocabulary each as they come: a whole-file
    read keeps every internal chunk's categories (strings) until the end (3-4 GB for
    Taobao's 30M behaviour events, against 0.2 GB for their codes)."""
    columns, vocabularies, codes = {}, {}, {}
    with pd.read_csv(path, sep=separator, usecols=list(dtypes), dtype=dtypes, encoding=encoding,
                     chunksize=chunk_rows) as reader:
        for chunk in reader:
            for name in chunk.columns:
                if not isinstance(chunk[name].dtype, pd.CategoricalDtype):
                    columns.setdefault(name, []).append(chunk[name].to_numpy())
                    continue
                categories = chunk[name].cat.categories
                vocabulary = vocabularies.get(name, pd.Index([], dtype=object))
                vocabulary = vocabulary.append(categories[vocabulary.get_indexer(categories) < 0])
                vocabularies[name] = vocabulary
                # position in the vocabulary of each category, and -1 (an empty cell) for code -1
                position = np.append(vocabulary.get_indexer(categories), -1).astype(np.int32)
                codes.setdefault(name, []).append(position[chunk[name].cat.codes.to_numpy()])
    data = {}
    for name in dtypes:
        if name in codes:
            data[name] = pd.Categorical.from_codes(np.concatenate(codes.pop(name)), vocabularies[name])
        elif name in columns:
            data[name] = np.concatenate(columns.pop(name))
        else:  # no data row: an empty column of the asked type
            data[name] = pd.Series([], dtype=dtypes[name])
    return pd.DataFrame(data)


def _mark_codes(values):
    """int8 codes of a feedback column (1, 0, or -1 for an empty cell): an eighth of a float64 copy."""
    codes = np.full(values.shape, -1, dtype=np.int8)
    codes[values == 0] = 0
    codes[values == 1] = 1
    return codes


def _narrow(ids):
    """int32 when every id fits (halves each id array while the histories are built), else int64."""
    ids = np.asarray(ids)
    if ids.size == 0 or int(ids.max()) <= np.iinfo(np.int32).max:
        return ids.astype(np.int32, copy=False)
    return ids.astype(np.int64, copy=False)


def _categorical(column):
    return column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")


def _concat_keeping_categories(frames):
    """``pd.concat`` of frames whose categorical columns first get one common set of categories."""
    for name in frames[0].columns:
        if all(isinstance(frame[name].dtype, pd.CategoricalDtype) for frame in frames):
            categories = pd.Index(np.concatenate([frame[name].cat.categories.to_numpy() for frame in frames])).unique()
            for frame in frames:
                frame[name] = frame[name].cat.set_categories(categories)
    return pd.concat(frames, ignore_index=True)


def _location(files, row):
    """``"<path>, line <n>"`` of a row of the concatenated interaction files (line 1 is the header)."""
    for path, rows in files:
        if row < rows:
            return f"{path}, line {row + 2}"
        row -= rows
    raise IndexError(row)


def _check_no_missing(values, path, field, expected, as_mask=False):
    """Error naming file, line and field of the first missing value."""
    missing = values if as_mask else np.isnan(values)
    bad = np.flatnonzero(missing)
    if bad.size:
        raise ValueError(f"{path}, line {bad[0] + 2}, field [{field}]: empty, expected {expected}")
