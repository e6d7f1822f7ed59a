"""Seeded simulators with planted truth (SYNTHETIC data): ``feedback`` (DUMN's click /
unclick / like / dislike impressions)."""
