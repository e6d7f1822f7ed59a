from recbole_denoise.evaluator.duration import DurationBuckets, WatchRows
from recbole_denoise.evaluator.own_items import own_items_metrics, rank_own_items

__all__ = ["DurationBuckets", "WatchRows", "own_items_metrics", "rank_own_items"]
