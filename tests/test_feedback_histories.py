"""FeedbackHistories: leak-free, right-aligned windows, counts and samples, against hand
computations and a brute-force reference on a random log."""

import numpy as np
import pytest
import torch

from recbole_denoise.data.feedback_histories import KINDS, FeedbackHistories

CLICK, UNCLICK, LIKE, DISLIKE = range(4)


def hand_log():
    """User 1: clicks on items 11 (t=1), 12 (t=2), 13 (t=3), 14 (t=3, tie), a like of 12 at
    t=2, an unclick of 15 at t=2.5, a dislike of 16 at t=4; user 2: one click on 21 at t=1. The input order puts 14
    before 13: events of one kind at one time keep their input order."""
    events = [  # user, time, kind, item, cate
        (1, 1.0, CLICK, 11, 101), (1, 2.0, CLICK, 12, 102), (1, 3.0, CLICK, 13, 103),
        (1, 3.0, CLICK, 14, 104), (1, 2.0, LIKE, 12, 102), (1, 2.5, UNCLICK, 15, 105),
        (1, 4.0, DISLIKE, 16, 106), (2, 1.0, CLICK, 21, 201),
    ]
    order = [6, 3, 0, 7, 2, 5, 1, 4]  # any input order
    events = [events[i] for i in order]
    users, times, kinds, items, cates = (list(column) for column in zip(*events))
    return FeedbackHistories.from_events(
        torch.tensor(users), torch.tensor(times, dtype=torch.float64), torch.tensor(kinds),
        {"item_id": torch.tensor(items), "cate_id": torch.tensor(cates)}, n_users=3)


def query(users, times):
    return torch.tensor(users), torch.tensor(times, dtype=torch.float64)


def test_window_is_strictly_before_most_recent_last_and_left_padded():
    histories = hand_log()
    ids, mask, kind_ids = histories.window("click", *query([1, 1, 1, 2, 0], [3.0, 3.5, 1.0, 9.0, 9.0]), 3)
    # t=3.0: the two clicks at t=3 are not before (ties excluded)
    assert ids["item_id"].tolist() == [[0, 11, 12], [12, 14, 13], [0, 0, 0], [0, 0, 21], [0, 0, 0]]
    assert ids["cate_id"].tolist() == [[0, 101, 102], [102, 104, 103], [0, 0, 0], [0, 0, 201], [0, 0, 0]]
    assert mask.tolist() == [[False, True, True], [True, True, True], [False] * 3,
                             [False, False, True], [False] * 3]
    assert (kind_ids == CLICK).all()


def test_window_keeps_the_most_recent_length():
    histories = hand_log()
    ids, mask, _ = histories.window("click", *query([1], [10.0]), 2)
    assert ids["item_id"].tolist() == [[14, 13]]  # 11 and 12 are older
    assert mask.all()


def test_each_kind_reads_only_its_events():
    histories = hand_log()
    users, times = query([1], [5.0])
    assert histories.window("like", users, times, 2)[0]["item_id"].tolist() == [[0, 12]]
    assert histories.window("unclick", users, times, 2)[0]["item_id"].tolist() == [[0, 15]]
    ids, mask, kind_ids = histories.window("dislike", users, times, 2)
    assert ids["item_id"].tolist() == [[0, 16]] and kind_ids.tolist() == [[0, DISLIKE]]


def test_all_merges_kinds_in_time_order():
    histories = hand_log()
    ids, mask, kind_ids = histories.window("all", *query([1, 1], [5.0, 2.0]), 8)
    # t=2: the like and the click of 12 are at t=2, not before
    assert ids["item_id"].tolist() == [[0, 11, 12, 12, 15, 14, 13, 16], [0] * 7 + [11]]
    assert kind_ids[0].tolist() == [0, CLICK, CLICK, LIKE, UNCLICK, CLICK, CLICK, DISLIKE]
    assert mask.sum(1).tolist() == [7, 1]
    assert histories.count("all", *query([1], [5.0])).tolist() == [7]


def test_count():
    histories = hand_log()
    users, times = query([1, 1, 1, 2, 2], [1.0, 3.0, 3.0000001, 1.0, 1.5])
    assert histories.count("click", users, times).tolist() == [0, 2, 4, 0, 1]
    assert histories.count("dislike", users, times).tolist() == [0, 0, 0, 0, 0]


def test_float64_ties_one_millisecond_apart():
    base = 1.6e12  # ms; float32 cannot tell these apart
    histories = FeedbackHistories.from_events(
        torch.tensor([1, 1]), torch.tensor([base, base + 1], dtype=torch.float64), torch.tensor([CLICK, CLICK]),
        {"item_id": torch.tensor([5, 6])}, n_users=2)
    ids, _, _ = histories.window("click", *query([1, 1, 1], [base + 1, base + 2, base]), 2)
    assert ids["item_id"].tolist() == [[0, 5], [5, 6], [0, 0]]


def test_sample_draws_only_strictly_earlier_events_uniformly():
    histories = hand_log()
    generator = torch.Generator().manual_seed(0)
    users, times = query([1] * 4000 + [2, 0], [3.0] * 4000 + [1.0, 5.0])
    ids, valid = histories.sample("click", users, times, generator=generator)
    assert valid[:4000].all() and not valid[4000:].any()
    assert ids["item_id"][4000:].tolist() == [0, 0]
    drawn = ids["item_id"][:4000]
    assert set(drawn.tolist()) == {11, 12}  # 13 and 14 are at t=3: not before
    assert abs((drawn == 11).float().mean().item() - 0.5) < 0.05
    assert (ids["cate_id"][:4000] == drawn + 90).all()  # fields of one event stay together


def test_sample_reaches_beyond_the_window():
    histories = hand_log()
    ids, valid = histories.sample("click", *query([1] * 500, [10.0] * 500), torch.Generator().manual_seed(1))
    # a window of length 1 would only ever hold 14
    assert set(ids["item_id"].tolist()) == {11, 12, 13, 14}


def test_sample_is_reproducible_for_a_seed():
    histories = hand_log()
    users, times = query([1] * 50, [10.0] * 50)
    first = histories.sample("click", users, times, torch.Generator().manual_seed(7))[0]["item_id"]
    second = histories.sample("click", users, times, torch.Generator().manual_seed(7))[0]["item_id"]
    assert torch.equal(first, second)


def test_buffers_are_not_in_the_state_dict_and_move_with_the_module():
    histories = hand_log()
    histories.window("all", *query([1], [5.0]), 2)
    assert histories.state_dict() == {}
    assert histories.to(torch.float64).unique_times.dtype == torch.float64
    holder = torch.nn.Module()
    holder.histories = histories
    assert all(buffer.device.type == "cpu" for buffer in holder.buffers())


def test_empty_kind_and_empty_log():
    empty = FeedbackHistories.from_events(
        torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long),
        {"item_id": torch.zeros(0, dtype=torch.long)}, n_users=3)
    ids, mask, kind_ids = empty.window("like", *query([1, 2], [1.0, 2.0]), 4)
    assert ids["item_id"].tolist() == [[0] * 4] * 2 and not mask.any()
    assert empty.sample("all", *query([1], [1.0]))[1].tolist() == [False]


def test_bad_inputs_are_errors_naming_the_problem():
    histories = hand_log()
    with pytest.raises(ValueError, match="float64"):
        histories.window("click", torch.tensor([1]), torch.tensor([1.0]), 2)
    with pytest.raises(ValueError, match="kind \\[share\\]"):
        histories.count("share", *query([1], [1.0]))
    with pytest.raises(ValueError, match="user ids must lie in \\[0, 2\\)"):
        FeedbackHistories.from_events(torch.tensor([2]), torch.tensor([1.0], dtype=torch.float64),
                                      torch.tensor([0]), {"item_id": torch.tensor([1])}, n_users=2)
    for user in (3, -1):  # past the last user; -1 would otherwise read the last user's events
        with pytest.raises(ValueError, match=f"user ids must lie in \\[0, 3\\).*got {user}"):
            histories.window("click", *query([1, user], [5.0, 5.0]), 2)
    with pytest.raises(ValueError, match="kinds must index KINDS"):
        FeedbackHistories.from_events(torch.tensor([1]), torch.tensor([1.0], dtype=torch.float64),
                                      torch.tensor([4]), {"item_id": torch.tensor([1])}, n_users=2)


def brute_force_window(events, kind, user, time, length):
    """Python reference: the user's events of ``kind`` (or all) with time < ``time``,
    sorted by time (ties: KINDS order, then input order), last ``length``."""
    earlier = [e for e in events if e[0] == user and e[1] < time and (kind == "all" or e[2] == KINDS.index(kind))]
    earlier.sort(key=lambda e: (e[1], e[2] if kind == "all" else 0, e[4]))
    return [e[3] for e in earlier][-length:]


def test_against_brute_force_on_a_random_log():
    rng = np.random.default_rng(3)
    n_events, n_users = 600, 7
    users = rng.integers(1, n_users, n_events)
    times = rng.integers(0, 40, n_events).astype(np.float64) * 0.5  # many ties
    kinds = rng.integers(0, 4, n_events)
    items = rng.integers(1, 50, n_events)
    events = list(zip(users.tolist(), times.tolist(), kinds.tolist(), items.tolist(), range(n_events)))
    histories = FeedbackHistories.from_events(torch.from_numpy(users), torch.from_numpy(times),
                                              torch.from_numpy(kinds), {"item_id": torch.from_numpy(items)}, n_users)
    query_users = rng.integers(0, n_users, 200)
    query_times = rng.integers(-1, 42, 200) * 0.5
    length = 6
    for kind in KINDS + ("all",):
        ids, mask, _ = histories.window(kind, torch.from_numpy(query_users), torch.from_numpy(query_times), length)
        counts = histories.count(kind, torch.from_numpy(query_users), torch.from_numpy(query_times))
        for row, (user, time) in enumerate(zip(query_users.tolist(), query_times.tolist())):
            expected = brute_force_window(events, kind, user, time, length)
            got = ids["item_id"][row][mask[row]].tolist()
            assert got == expected, (kind, user, time)
            assert mask[row].tolist() == [False] * (length - len(expected)) + [True] * len(expected)
            every = brute_force_window(events, kind, user, time, n_events)
            assert counts[row].item() == len(every)


def test_queries_return_int64_and_storage_is_compact():
    histories = hand_log()
    ids, mask, kind_ids = histories.window("like", *query([1], [5.0]), 2)
    assert ids["item_id"].dtype == ids["cate_id"].dtype == kind_ids.dtype == torch.long
    assert kind_ids.tolist() == [[0, LIKE]]
    assert histories.sample("all", *query([1], [5.0]))[0]["item_id"].dtype == torch.long
    assert histories.like_field0.dtype == torch.int32 and not hasattr(histories, "like_kind_ids")
    huge = FeedbackHistories.from_events(torch.tensor([1]), torch.tensor([1.0], dtype=torch.float64),
                                         torch.tensor([CLICK]), {"item_id": torch.tensor([2**40])}, n_users=2)
    assert huge.window("click", *query([1], [2.0]), 1)[0]["item_id"].tolist() == [[2**40]]
