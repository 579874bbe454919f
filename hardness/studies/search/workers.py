"""`hardness search --n-workers N`: N local worker processes on one study, one torch thread each.

Each worker is a whole `hardness search` (search.workers = 1) in a fresh process: it joins the study and its shared
parent run like a worker started by hand, runs search.trials trials and leaves. This process only starts them,
draws their trials as one progress bar and waits. Ctrl-C or a stop signal here stops the workers by SIGTERM, so
their runs end KILLED and the study can be continued by a rerun.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import signal
import sys
import traceback
from typing import Any

import optuna

from hardness.config import Config
from hardness.engine.progress import Progress
from hardness.errors import ComputationFailed, HardnessError
from hardness.interrupts import Interrupted, exit_code
from hardness.studies.search.run import SearchSummary, run_search

POLL_S = 0.5


def launch_search(config: Config, *, progress: Progress | None = None) -> SearchSummary:
    """The search as `hardness search` runs it: in this process, or on search.workers worker processes."""
    if config.search.workers > 1:
        return run_workers(config, progress=progress)
    return run_search(config, progress=progress)


def run_workers(config: Config, *, progress: Progress | None = None) -> SearchSummary:
    """Run config.search.workers workers on the study to the end; the summary of the study as the last one saw it,
    with `ran` counting every worker's trials. A worker's HardnessError is raised here (its exit code kept)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads or locks
    messages = context.Queue()
    single = config.model_copy(update={"search": config.search.model_copy(update={"workers": 1})})
    workers = [context.Process(target=_work, args=(single, number, messages), daemon=False)
               for number in range(config.search.workers)]
    for worker in workers:
        worker.start()
    try:
        outcomes = _follow(workers, messages, config, progress)
    except KeyboardInterrupt:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: the worker ends its runs KILLED
        while any(worker.is_alive() for worker in workers):  # read on: a worker cannot exit with a full pipe
            try:
                messages.get(timeout=POLL_S)
            except queue.Empty:
                pass
        raise
    errors = [outcome for outcome in outcomes.values() if not isinstance(outcome, SearchSummary)]
    if errors:
        raise next((error for error in errors if isinstance(error, HardnessError)), errors[0])
    summaries = list(outcomes.values())
    last = max(summaries, key=lambda summary: len(summary.trials))
    return dataclasses.replace(last, ran=sum(summary.ran for summary in summaries))


def _follow(workers: list, messages: Any, config: Config, progress: Progress | None) -> dict[int, Any]:
    """Collect each worker's outcome (its summary or its error), reporting trials as they end."""
    total = config.search.trials * len(workers)
    if config.search.study_trials is not None:
        total = min(total, config.search.study_trials)
    outcomes: dict[int, Any] = {}
    done = 0
    if progress is not None:
        progress(0, total, f"trials on {len(workers)} workers")
    while len(outcomes) < len(workers):
        try:
            kind, number, payload = messages.get(timeout=POLL_S)
        except queue.Empty:
            for number, worker in enumerate(workers):
                if number not in outcomes and not worker.is_alive() and worker.exitcode != 0:
                    outcomes[number] = ComputationFailed(f"search worker {number} died (exit code {worker.exitcode}) "
                                                         f"before it finished: rerun to continue the study")
            continue
        if kind == "trial":
            done += 1
            if progress is not None:
                progress(min(done, total), total, f"trials on {len(workers)} workers, {payload}")
        else:
            outcomes[number] = payload
    for worker in workers:
        worker.join()
    return outcomes


def _work(config: Config, number: int, messages: Any) -> None:
    """One worker: a whole search; its trials, then its summary or its error, go to the parent through `messages`.
    Stopped by a signal, it exits 128 + the signal like the command would."""
    _stop_on_signals()

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        messages.put(("trial", number, f"trial {trial.number} {trial.state.name.lower()}"))

    try:
        outcome: Any = run_search(config, callbacks=[report])
    except Interrupted as stop:
        sys.exit(exit_code(signal.Signals[str(stop)]))
    except HardnessError as error:
        outcome = error
    except Exception as error:  # a bug: keep its traceback on stderr, report it to the parent
        traceback.print_exc()
        outcome = RuntimeError(f"search worker {number} failed with {type(error).__name__}: {error}")
    messages.put(("done", number, outcome))


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop this worker like Ctrl-C (runs end KILLED); Ctrl-C itself is left to the parent, which
    stops the workers, so the terminal gets one line. A signal ignored at start (nohup) stays ignored."""
    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
