"""recbole_denoise.runtime
##########################
What a command-line program of this package (``run_recbole_denoise.py``, the benchmark
scripts) sets up around a run:

- :func:`quiet_known_warnings`: filters, each by message *and* module, for the warnings
  that the pinned RecBole 1.2.1 raises on every run and that are known to be harmless
  there; any other warning still shows;
- :func:`init_run_logger`: RecBole's ``init_logger``, except that the log file records
  INFO whatever ``state`` says (``state`` sets the console only), so a quiet run still
  leaves its result in ``log/``;
- :func:`stop_on_sigterm`: SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C, so a run
  unwinds instead of dying mid-write; :class:`TrainingInterrupted` names the last resume
  point and the command that continues from it;
- :func:`run_entry_point`: all of that around a ``main()``, exiting with 128 + the
  signal number when interrupted.
"""

import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import warnings

# (message regex, category, module regex) of warnings from the pinned stack that change
# nothing on it (REFERENCE.md, "The software stack")
KNOWN_HARMLESS_WARNINGS = (
    # Dataset._fill_nan: chained ``feat[field].fillna(..., inplace=True)``; it still fills
    # on pandas < 3, which the stack pins (pandas 3 would make it a no-op)
    (r"A value is trying to be set on a copy of a DataFrame or Series through chained "
     r"assignment using an inplace method", FutureWarning, r"recbole\.data\.dataset\.dataset"),
    # Trainer._train_epoch: ``torch.cuda.amp.GradScaler(enabled=...)``, deprecated name of
    # the same class (disabled on CPU)
    (r"`torch\.cuda\.amp\.GradScaler\(args\.\.\.\)` is deprecated", FutureWarning,
     r"recbole\.trainer\.trainer"),
    # LightGCN, NGCF, SGL and other graph models build their adjacency with
    # ``torch.sparse.FloatTensor``, the deprecated name of ``torch.sparse_coo_tensor``
    (r"torch\.sparse\.SparseTensor\(indices, values, shape, \*, device=\) is deprecated", UserWarning,
     r"recbole\.model\.(general_recommender\.\w+|layers)"),
)


def quiet_known_warnings():
    """Ignore :data:`KNOWN_HARMLESS_WARNINGS`, each only when raised from its RecBole
    module. Calling it again adds nothing (``warnings`` drops duplicate filters)."""
    for message, category, module in KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module + r"\Z")


# the handlers that the last init_run_logger added to the root logger
_RUN_HANDLERS = []


def init_run_logger(config):
    """RecBole's ``init_logger`` (console and ``log/<model>/<run>.log``), with the log file
    at INFO (or DEBUG when ``state`` is DEBUG) and the console at ``state``.

    RecBole sets both handlers from ``state`` and installs them with
    ``logging.basicConfig``, which does nothing once the root logger has handlers: with
    ``state: ERROR`` the log file stayed empty, and a second run in the same process
    wrote into the first run's file. Here each call replaces the previous call's
    handlers and leaves handlers of others (pytest's, an application's) in place.
    """
    from recbole.utils import init_logger  # here: this module stays light to import

    root = logging.getLogger()
    for handler in _RUN_HANDLERS:
        root.removeHandler(handler)
        handler.close()
    others = root.handlers[:]
    for handler in others:
        root.removeHandler(handler)
    init_logger(config)
    _RUN_HANDLERS[:] = root.handlers[:]
    for handler in others:
        root.addHandler(handler)
    for handler in _RUN_HANDLERS:
        if isinstance(handler, logging.FileHandler):
            handler.setLevel(min(handler.level, logging.INFO))
    root.setLevel(min(handler.level for handler in _RUN_HANDLERS))


@contextlib.contextmanager
def signal_handlers_kept():
    """Keep this process's SIGINT / SIGTERM handlers across ``import ray`` and ``ray.init``,
    which install their own (SIGTERM then exited or aborted the driver instead of raising
    ``KeyboardInterrupt`` under :func:`stop_on_sigterm`, and nothing was cancelled or saved)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            if handler is not None:
                signal.signal(signum, handler)


def stop_on_sigterm():
    """Make SIGTERM raise ``KeyboardInterrupt("SIGTERM")`` in the main thread, as Ctrl-C
    raises ``KeyboardInterrupt``: the run unwinds (files closed, the last complete resume
    point left in place) at the next Python instruction, at the latest when the current
    torch operation returns. A second SIGTERM kills at once (the default action)."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum, frame):
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def signal_name(interrupt):
    """``"SIGTERM"`` for an interrupt raised by :func:`stop_on_sigterm`, else ``"SIGINT"``."""
    if isinstance(interrupt, TrainingInterrupted):
        return interrupt.signal_name
    return "SIGTERM" if interrupt.args == ("SIGTERM",) else "SIGINT"


class TrainingInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT / SIGTERM. ``resume_file`` is the last complete resume point
    (``None`` if no validation had finished) and ``resume_command`` the command line that
    continues from it."""

    def __init__(self, signal_name, resume_file, resume_command):
        super().__init__(signal_name, resume_file, resume_command)
        self.signal_name = signal_name
        self.resume_file = resume_file
        self.resume_command = resume_command

    def __str__(self):
        if self.resume_file is None:
            return f"stopped by {self.signal_name} before the first validation: no resume point, nothing kept"
        return (f"stopped by {self.signal_name}; last resume point: {self.resume_file}\n"
                f"continue with: {self.resume_command}")


def resume_command(resume_file, model, dataset, config_file_list=None, config_dict=None):
    """The ``run_recbole_denoise.py`` command that continues a run from ``resume_file``:
    the run's model, dataset, config files and dict, and the ``--key=value`` arguments of
    this process's command line (which RecBole's ``Config`` read too)."""
    overrides = {"model": model, "dataset": dataset}
    if config_file_list:
        overrides["config_files"] = " ".join(config_file_list)
    overrides.update(config_dict or {})
    overrides.update(_command_line_overrides())
    overrides["resume_file"] = resume_file
    script = sys.argv[0] if sys.argv[0].endswith("run_recbole_denoise.py") else "run_recbole_denoise.py"
    return shlex.join(["python", script] + [f"--{key}={value}" for key, value in overrides.items()])


def _command_line_overrides():
    """``--key=value`` arguments of ``sys.argv``, as RecBole's ``Config`` reads them."""
    pairs = (arg[2:].split("=") for arg in sys.argv[1:] if arg.startswith("--"))
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def run_entry_point(main):
    """Run ``main()`` as a command-line program: :func:`quiet_known_warnings`,
    :func:`stop_on_sigterm`, and on SIGINT / SIGTERM a message (unless a
    :class:`TrainingInterrupted` was logged already) and exit status 128 + the signal
    number, without a traceback."""
    quiet_known_warnings()
    stop_on_sigterm()
    try:
        return main()
    except KeyboardInterrupt as interrupt:
        name = signal_name(interrupt)
        if not isinstance(interrupt, TrainingInterrupted):
            print(f"stopped by {name} (pid {os.getpid()})", file=sys.stderr, flush=True)
        sys.exit(128 + signal.Signals[name].value)
