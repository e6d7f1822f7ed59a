"""The output folder of a group: ``runs/<run id>.json`` (one file per run, written
atomically), ``checkpoints/<run id>/`` (each run's ``checkpoint_dir``) and the report."""

import json
import os
import tempfile


class RunStore:
    def __init__(self, out):
        self.out = os.path.abspath(out)
        self.runs_dir = os.path.join(self.out, "runs")

    def path(self, run):
        return os.path.join(self.runs_dir, run.run_id + ".json")

    def checkpoint_dir(self, run):
        return os.path.join(self.out, "checkpoints", run.run_id)

    def load(self, run):
        """The saved record of ``run`` if it was made with the run's current inputs, else
        ``None`` (no file, an unreadable file, or a record of an edited spec)."""
        try:
            with open(self.path(run), encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return None
        return record if record.get("inputs") == json.loads(json.dumps(run.inputs())) else None

    def finished(self, run):
        """Whether ``run`` has a result (failed runs are run again)."""
        record = self.load(run)
        return record is not None and record.get("status") == "ok"

    def save(self, record):
        os.makedirs(self.runs_dir, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.runs_dir, prefix=f".{record['id']}.", suffix=".partial")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(record, stream, indent=1, allow_nan=False)
            stream.write("\n")
        os.replace(partial, os.path.join(self.runs_dir, record["id"] + ".json"))
