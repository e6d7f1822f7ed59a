from recbole_denoise.evaluator.own_items import own_items_metrics, rank_own_items

__all__ = ["own_items_metrics", "rank_own_items"]
