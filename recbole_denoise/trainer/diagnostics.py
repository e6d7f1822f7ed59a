"""What T-CE drops, measured against the known false positives (ADT Sec. 5.2.2,
Fig. 9), and the loss of clean vs false-positive interactions (ADT Fig. 3, 7)."""

import contextlib
import csv
import os
import tempfile

import torch


class DenoisingDiagnostics:
    """Per-epoch counts over the training positives whose clean flag is known.

    Reported per epoch:
    - ``drop_precision``: of the positives dropped, the fraction that are false
      positives; ``drop_recall``: of the false positives seen, the fraction dropped;
    - ``random_precision`` / ``random_recall``: the same for dropping as many
      positives uniformly at random (the paper's random-discarding reference);
    - ``ce_clean`` / ``ce_noisy``: mean plain CE (or BPR) loss of clean and of
      false-positive interactions;
    - ``drop_rate``: the schedule's rate at the end of the epoch.
    """

    COLUMNS = (
        "epoch", "drop_rate", "positives", "false_positives", "dropped",
        "dropped_false_positives", "drop_precision", "drop_recall",
        "random_precision", "random_recall", "ce_clean", "ce_noisy",
    )

    def __init__(self, csv_path=None):
        self.csv_path = csv_path
        self.history = []
        self._reset()

    def _reset(self):
        self.positives = 0
        self.false_positives = 0
        self.dropped = 0
        self.dropped_false_positives = 0
        self.loss_clean = 0.0
        self.loss_noisy = 0.0

    def update(self, record):
        """Add one batch: a ``LossRecord`` whose ``clean`` flags are known."""
        if record.clean is None:
            return
        per_sample = record.result.per_sample
        kept = record.result.kept
        positive = torch.ones_like(kept) if record.labels is None else record.labels > 0.5
        clean = record.clean.to(per_sample.device) > 0.5
        noisy = positive & ~clean
        dropped = positive & ~kept
        self.positives += int(positive.sum())
        self.false_positives += int(noisy.sum())
        self.dropped += int(dropped.sum())
        self.dropped_false_positives += int((dropped & noisy).sum())
        self.loss_clean += float(per_sample[positive & clean].sum())
        self.loss_noisy += float(per_sample[noisy].sum())

    # the per-epoch sums that update() accumulates
    COUNTS = ("positives", "false_positives", "dropped", "dropped_false_positives", "loss_clean", "loss_noisy")

    def combine(self, sum_over_processes):
        """Replace this process's sums of the epoch by ``sum_over_processes(sums)``: in a
        distributed run, each process saw only its part of every batch."""
        totals = sum_over_processes([getattr(self, name) for name in self.COUNTS])
        for name, total in zip(self.COUNTS, totals):
            setattr(self, name, total)

    def end_epoch(self, epoch, drop_rate):
        """Close the epoch: return its row, append it to history and the csv file."""
        clean_count = self.positives - self.false_positives
        row = {
            "epoch": epoch,
            "drop_rate": drop_rate,
            "positives": self.positives,
            "false_positives": self.false_positives,
            "dropped": self.dropped,
            "dropped_false_positives": self.dropped_false_positives,
            "drop_precision": _ratio(self.dropped_false_positives, self.dropped),
            "drop_recall": _ratio(self.dropped_false_positives, self.false_positives),
            "random_precision": _ratio(self.false_positives, self.positives),
            "random_recall": _ratio(self.dropped, self.positives),
            "ce_clean": _ratio(self.loss_clean, clean_count),
            "ce_noisy": _ratio(self.loss_noisy, self.false_positives),
        }
        self.history.append(row)
        self._write(row)
        self._reset()
        return row

    def restore(self, history, csv_path):
        """Continue after a resume point: ``history`` (the rows of every epoch up to the
        resume point) becomes the history, and the csv file at ``csv_path`` is rewritten
        to hold exactly those rows, so rows of epochs that the interrupted run wrote after
        its resume point (and that the resumed run trains again) appear once."""
        self.history = [dict(row) for row in history]
        self.csv_path = csv_path
        self._reset()
        if csv_path is None:
            return
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(csv_path)}.", suffix=".tmp",
                                             dir=os.path.dirname(os.path.abspath(csv_path)))
        try:
            with os.fdopen(handle, "w", newline="") as stream:
                writer = csv.DictWriter(stream, fieldnames=self.COLUMNS)
                writer.writeheader()
                writer.writerows(self.history)
            os.replace(temporary, csv_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _write(self, row):
        if self.csv_path is None:
            return
        new_file = not os.path.exists(self.csv_path)
        with open(self.csv_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.COLUMNS)
            if new_file:
                writer.writeheader()
            writer.writerow(row)

    @staticmethod
    def format(row):
        def pct(value):
            return "n/a" if value is None else f"{value:.4f}"

        return (
            f"drop rate {row['drop_rate']:.4f}; dropped {row['dropped']} of "
            f"{row['positives']} positives; drop precision {pct(row['drop_precision'])} "
            f"(random {pct(row['random_precision'])}), recall {pct(row['drop_recall'])} "
            f"(random {pct(row['random_recall'])}); mean loss clean "
            f"{pct(row['ce_clean'])} / false positive {pct(row['ce_noisy'])}"
        )


def _ratio(numerator, denominator):
    return None if denominator == 0 else numerator / denominator
