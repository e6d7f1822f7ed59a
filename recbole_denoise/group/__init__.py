"""recbole_denoise.group
########################
Group runs: every model variant of a yaml spec on every dataset and seed, each run
through ``run_recbole_denoise``, on Ray, with its result saved to a json file of its own;
then a report (mean ± std over seeds, a paired t-test against a baseline, the best per
column marked) in markdown, CSV and LaTeX.

    python -m recbole_denoise.group benchmarks/specs/adt-ml-100k-quick.yaml
    python -m recbole_denoise.group benchmarks/specs/adt-ml-100k-quick.yaml --report

- :mod:`.spec`: reads and checks a spec, expands it into runs;
- :mod:`.execute`: one run, as a Ray task or in this process (:func:`execute_run`);
- :mod:`.store`: the output folder, one json file per run, written atomically;
- :mod:`.runner`: the grid on Ray (or sequentially, ``--backend local``), skipping
  finished runs;
- :mod:`.report`: the tables.
"""

from recbole_denoise.group.spec import Run, Spec, SpecError, load_spec
from recbole_denoise.group.runner import run_group
from recbole_denoise.group.report import summarize, write_report

__all__ = ["Run", "Spec", "SpecError", "load_spec", "run_group", "summarize", "write_report"]
