"""What the Yelp and Amazon-book converters share once their raw files are read: the
ADT noise rule for rated reviews and the paper's protocol for both datasets."""

import pandas as pd

from .protocols import adt_protocol_for
from .writer import (
    CLEAN_FIELD,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionSummary,
    clean_flags,
    filter_k_core,
    finish_conversion,
    keep_latest_per_pair,
)

MIN_CLEAN_RATING = 3.0  # ADT paper: a rating < 3 is a false positive

# The paper's protocol for Yelp and Amazon-book: Recall and NDCG at 50 and 100; the
# flag is derived from the rating, so the rating is never a model feature.
PAPER_PROTOCOL = {**adt_protocol_for("yelp"), "ground_truth_fields": ["rating"]}

INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", "rating": "float", "timestamp": "float",
               CLEAN_FIELD: "float"}


def finish_rated_reviews(summary: ConversionSummary, ratings: pd.DataFrame, *, duplicate_reason: str,
                         min_interactions: int, overwrite: bool, quiet: bool) -> ConversionSummary:
    """Keep each user's latest rating of an item, apply the optional k-core, flag
    ``clean = rating >= 3`` and write the ``.inter`` file with the paper's protocol."""
    ratings = keep_latest_per_pair(ratings, summary, duplicate_reason)
    ratings = filter_k_core(ratings, min_interactions, summary)
    ratings = ratings.assign(**{CLEAN_FIELD: clean_flags(ratings["rating"] >= MIN_CLEAN_RATING)})
    tables = [AtomicTable("inter", ratings, INTER_TYPES)]
    return finish_conversion(summary, tables, dataset_config=PAPER_PROTOCOL, overwrite=overwrite, quiet=quiet)
