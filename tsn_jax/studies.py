"""Studies: a paper's table reproduced as a named set of ordinary training runs.

A study (a file under `configs/studies/` with `get_study()`) names its runs (a base
config plus dotted overrides each), the rows and columns of the paper's table, which
run's scores (or which late fusion of several runs' scores) fill each cell, the paper's
own figure for the cell where it reports one, and the findings the table supports
("segment sampling beats stride-1 regular sampling"). `run_study` trains and evaluates
every run that is not finished (the same `runner.train_and_evaluate` as `main.py`, so an
interrupted run resumes), optionally under several seeds, then writes `results.json`,
`results.md` (the table in the paper's layout, ours beside the paper's) and
`results.png` (grouped bars with the per-class-group accuracy). A study may also name
`Contribution`s: Chen et al.'s spatial contribution Phi and temporal improvement Psi of
a temporal model over TSN (CVPR 2021, Eq. 1 and Table 7), per class group.

Layout: `<root>/<run>/` for seed 0 and `<root>/<run>.seed<s>/` for seed s > 0, so
`--seeds=3` after a one-seed study reuses its runs. A finished run holds
`study_run.json` (the config it was trained with); a finished run whose config changed
since is an error, not silently reused, and so is an interrupted one whose checkpoints
were trained under another config (`runner.check_resumable`).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from tsn_jax import checkpoints, host, reports, runner, score_files
from tsn_jax.config_checks import validate_config
from tsn_jax.contribution import mean_contribution
from tsn_jax.errors import ConfigError
from tsn_jax.metrics import classification_metrics
from tsn_jax.progress import format_duration
from tsn_jax.untrimmed import video_mean_average_precision

RUN_RECORD = "study_run.json"
EVALUATION_RECORD = "study_evaluation.json"
RESULTS = ("results.json", "results.md", "results.png")
METRICS = ("top1", "mAP")
_METRIC_NAMES = {"top1": "top-1", "mAP": "mAP"}


@dataclasses.dataclass(frozen=True)
class FromRun:
    """An override value: the workdir of another run of the study, under the same seed.

    For `init.checkpoint` (a workdir stands for its newest checkpoint): a run fine-tuned
    from a run the study pretrains, e.g. `{"init.checkpoint": FromRun("pretrain")}`.
    The run named must come earlier in the study's `runs`, so it has trained first.
    """

    run: str


@dataclasses.dataclass(frozen=True)
class Cell:
    """One figure of the table: a run's test scores, or a late fusion of several runs'.

    runs: run names; two or more are fused (`score_files.fuse`, the study's fusion mode).
    weights: fusion weight per run (default equal; TSN's two streams: 1 and 1.5).
    paper: the paper's figure for this cell as a fraction, None where it reports none.
    evaluation: '' for the runs' own test (their config's protocol), or the name of one
      of the study's `evaluations` (another protocol on the same checkpoints).
    """

    runs: tuple[str, ...]
    weights: tuple[float, ...] = ()
    paper: float | None = None
    evaluation: str = ""


@dataclasses.dataclass(frozen=True)
class Finding:
    """A claim the table tests: cell `better` scores above cell `worse`.

    Cells are (row, column). `metric` is '' for the study's metric (top-1 or mAP) over
    all classes, or a class group's (e.g. 'order': the demo's order classes, which need
    the order of the frames).
    """

    text: str
    better: tuple[str, str]
    worse: tuple[str, str]
    metric: str = ""


@dataclasses.dataclass(frozen=True)
class Contribution:
    """Phi and Psi (Chen et al., CVPR 2021, Eq. 1) of one architecture over TSN.

    For each (TSN cell, model cell) pair (one backbone and frame count each), Phi =
    S_TSN / max(S_model, S_TSN) and Psi = (S_model - S_TSN) / (1 - S_TSN)
    (`contribution.contribution`); the study reports their means over the pairs, as
    Table 7 does over backbones and frame counts, on top-1 and on each class group.

    column: the architecture, a column of the Phi/Psi table (e.g. 'TAM').
    row: which Psi this is, a row label (Table 7: 'ta', temporal aggregation only; 'ta+tp',
      with temporal pooling; the baseline is TSN without temporal pooling in both).
    pairs: ((TSN cell, model cell), ...), cells as (row, column) of the study's table.
    paper: {metric: (Phi, Psi)} where the paper reports them (Table 7 by dataset: the
      demo's appearance classes stand for Mini-Kinetics, its order classes for
      Mini-SSV2); either may be None.
    """

    column: str
    row: str
    pairs: tuple[tuple[tuple[str, str], tuple[str, str]], ...]
    paper: Mapping[str, tuple[float | None, float | None]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Study:
    """A paper's table as runs.

    name: the folder name under the study root.
    title, citation: what the table shows; paper, section and table it reproduces.
    base_config: returns the config every run starts from.
    runs: {run name: {dotted config key: value (or a `FromRun`)}}, in training order.
    rows, columns: the table's layout; cells: {(row, column): Cell}.
    findings: the paper's claims the table tests.
    notes: how the demo setting differs from the paper's (scaled strides, budget, ...).
    fusion: 'score' (TSN: average logits) or 'prob' for fused cells.
    contributions: Phi / Psi of temporal models over TSN, from the table's cells.
    evaluations: more test protocols of every run, {name: dotted `eval.*` overrides},
      e.g. Chen et al.'s video-level test {'video': {'eval.crops': 'three',
      'eval.twice_sample': True}}; each writes its scores to `<run>/<name>/`.
    metric: what the cells report, one of METRICS: 'top1' (top-1 accuracy; per class
      group the mean of its classes' accuracies) or 'mAP' (mean over classes of the
      average precision over the test videos of their softmax scores, the untrimmed-video
      metric of TSN TPAMI Sec. 5.1, `untrimmed.video_mean_average_precision`; per class
      group the mean of its classes' AP).
    """

    name: str
    title: str
    citation: str
    base_config: Callable[[], ml_collections.ConfigDict]
    runs: Mapping[str, Mapping[str, Any]]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]
    findings: tuple[Finding, ...] = ()
    notes: str = ""
    fusion: str = "score"
    contributions: tuple[Contribution, ...] = ()
    evaluations: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    metric: str = "top1"

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"study {self.name}: metric {self.metric!r}, not one of {METRICS}")
        names = list(self.runs)
        for index, (run, overrides) in enumerate(self.runs.items()):
            for key, value in overrides.items():
                if isinstance(value, FromRun) and value.run not in names[:index]:
                    raise ValueError(
                        f"study {self.name}: run {run!r} sets {key} from run {value.run!r}, "
                        "which is not a run listed before it"
                    )
        for (row, column), cell in self.cells.items():
            if row not in self.rows or column not in self.columns:
                raise ValueError(f"study {self.name}: cell {(row, column)} is not in the table")
            unknown = [run for run in cell.runs if run not in self.runs]
            if unknown or not cell.runs:
                raise ValueError(f"study {self.name}: cell {(row, column)} names runs {unknown}")
            if cell.weights and len(cell.weights) != len(cell.runs):
                raise ValueError(f"study {self.name}: cell {(row, column)} needs a weight a run")
            if cell.evaluation and cell.evaluation not in self.evaluations:
                raise ValueError(
                    f"study {self.name}: cell {(row, column)} reads evaluation "
                    f"{cell.evaluation!r}, which the study does not define"
                )
        for name, overrides in self.evaluations.items():
            if not name.isidentifier() or name in self.runs:
                raise ValueError(f"study {self.name}: evaluation name {name!r}")
            if any(not key.startswith("eval.") for key in overrides):
                raise ValueError(f"study {self.name}: evaluation {name!r} may set only eval.* keys")
        for finding in self.findings:
            if finding.metric and not finding.metric.isidentifier():
                raise ValueError(f"study {self.name}: finding metric {finding.metric!r}")
            for cell in (finding.better, finding.worse):
                if tuple(cell) not in self.cells:
                    raise ValueError(f"study {self.name}: finding cell {cell} is not measured")
        for item in self.contributions:
            if not item.pairs:
                raise ValueError(f"study {self.name}: contribution {item.column} has no pairs")
            for cell in (cell for pair in item.pairs for cell in pair):
                if tuple(cell) not in self.cells:
                    raise ValueError(
                        f"study {self.name}: contribution {item.column} cell {cell} is not measured"
                    )


def notes_from(doc: str) -> str:
    """A study module's docstring after its first two paragraphs (what it reproduces,
    and the paper's setting): how the demo setting departs from the paper's."""
    return doc.split("\n\n", 2)[2]


def load_study(path: str) -> Study:
    """The `get_study()` of a study file, e.g. 'configs/studies/tsn_sampling.py'.

    Raises:
      ConfigError: no such file, or it defines no `get_study`.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"no study file {path!r} (the shipped ones: configs/studies/*.py)")
    spec = importlib.util.spec_from_file_location(
        f"study_{os.path.splitext(os.path.basename(path))[0]}", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_study"):
        raise ConfigError(f"{path} defines no get_study()")
    return module.get_study()


def apply_overrides(
    config: ml_collections.ConfigDict, overrides: Mapping[str, Any]
) -> ml_collections.ConfigDict:
    """Sets dotted keys ('data.snippet_stride': 2) on a copy of `config`.

    Raises:
      ConfigError: a key the config does not have, named.
    """
    config = ml_collections.ConfigDict(config.to_dict())  # a copy that can be changed
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = config
        for part in parents:
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                raise ConfigError(f"study override {dotted!r}: the config has no {part!r}")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"study override {dotted!r}: the config has no key {leaf!r}")
        node[leaf] = value
    return config


def run_dir(root: str, run: str, seed: int) -> str:
    """Where run `run` of seed index `seed` trains: <root>/<run> or <root>/<run>.seed<s>."""
    return os.path.join(root, run if seed == 0 else f"{run}.seed{seed}")


def dependencies(study: Study, run: str) -> dict[str, str]:
    """{dotted key: run name} of the run's `FromRun` overrides."""
    return {k: v.run for k, v in study.runs[run].items() if isinstance(v, FromRun)}


def run_config(
    study: Study,
    root: str,
    run: str,
    seed: int,
    num_train_steps: int | None = None,
    common: Mapping[str, Any] | None = None,
) -> ml_collections.ConfigDict:
    """The config of one run: the base, the run's overrides (a `FromRun` becomes that
    run's absolute workdir under `root` and the same seed), then `common` (overrides of
    every run, e.g. another data_dir), seed + `seed`, and `num_train_steps` when given."""
    overrides = {
        key: os.path.abspath(run_dir(root, value.run, seed)) if isinstance(value, FromRun)
        else value
        for key, value in study.runs[run].items()
    }  # fmt: skip
    config = apply_overrides(study.base_config(), {**overrides, **(common or {})})
    config.seed = int(config.seed) + seed
    if num_train_steps is not None:
        config.num_train_steps = num_train_steps
    return config


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _recorded_config(workdir: str) -> dict | None:
    path = os.path.join(workdir, RUN_RECORD)
    return _read_json(path)["config"] if os.path.exists(path) else None


def _run_record(
    config: ml_collections.ConfigDict, train_time_s: float, resumed_from_step: int | None
) -> dict[str, Any]:
    """What RUN_RECORD holds: the config a run was trained with, and when, where and how
    long its training (with its own test) took; for a run that resumed an interrupted
    one, the step it resumed from ('resumed_from_step'), as its time counts from there."""
    record = {
        "config": config.to_dict(),
        "train_time_s": round(train_time_s, 1),
        "finished": datetime.date.today().isoformat(),
        "machine": host.machine_description(),
    }
    if resumed_from_step is not None:
        record["resumed_from_step"] = resumed_from_step
    return record


def _training_record(study: Study, root: str, seeds: int) -> dict[str, Any]:
    """When, where and in how long the runs of `seeds` seeds were trained, from their
    records (runs recorded before the records held it count as untimed; the date of
    such a run is its record's modification date; a resumed run's time counts from the
    step it resumed from).

    Returns:
      {'trained': [first, last] ISO dates, 'machines': sorted distinct machines,
      'train_time_s': summed over the timed runs, 'runs': n, 'untimed_runs': k,
      'resumed_runs': how many of the timed runs resumed an interrupted one}.
    """
    dates, machines, total, untimed, resumed = [], set(), 0.0, 0, 0
    jobs = [(run, seed) for seed in range(seeds) for run in study.runs]
    for run, seed in jobs:
        path = os.path.join(run_dir(root, run, seed), RUN_RECORD)
        record = _read_json(path)
        mtime = datetime.date.fromtimestamp(os.path.getmtime(path)).isoformat()
        dates.append(record.get("finished", mtime))
        if "train_time_s" in record:
            total += record["train_time_s"]
            machines.add(record["machine"])
            resumed += "resumed_from_step" in record
        else:
            untimed += 1
    return {
        "trained": [min(dates), max(dates)],
        "machines": sorted(machines),
        "train_time_s": round(total, 1),
        "runs": len(jobs),
        "untimed_runs": untimed,
        "resumed_runs": resumed,
    }


def _canonical(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists), to compare with a record."""
    return json.loads(json.dumps(reports.json_safe(value)))


def run_study(
    study: Study,
    root: str,
    seeds: int = 1,
    num_train_steps: int | None = None,
    common: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = logging.info,
) -> dict[str, Any]:
    """Trains and evaluates every unfinished run of `study`, then writes its results.

    Args:
      study: what to run.
      root: the study's folder (e.g. runs/studies/tsn_sampling).
      seeds: how many seeds each run is trained with (mean and spread reported).
      num_train_steps: overrides every run's training length (tests).
      common: dotted overrides of every run's config (after the study's own).
      log: where progress lines go.

    Returns:
      The results written to results.json (see `summarize`).

    Raises:
      ConfigError: a bad override or value, a bad seed count, or a finished or
        interrupted run whose config differs from the study's now (all checked before
        any training).
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    jobs = [(run, seed) for seed in range(seeds) for run in study.runs]
    configs = {job: run_config(study, root, *job, num_train_steps, common) for job in jobs}
    todo = []
    for (run, seed), config in configs.items():
        # A run that starts from one not trained yet is checked without that checkpoint
        # now, and in full when it trains (runner.train_and_evaluate validates it).
        untrained = {k: "" for k, dep in dependencies(study, run).items()
                     if _recorded_config(run_dir(root, dep, seed)) is None}  # fmt: skip
        validate_config(apply_overrides(config, untrained))
        for name in study.evaluations:
            evaluated = evaluation_config(study, config, root, run, seed, name)
            validate_config(apply_overrides(evaluated, untrained))
        workdir = run_dir(root, run, seed)
        recorded = _recorded_config(workdir)
        if recorded is None:
            # An interrupted run resumes under its own config only, optimizer included.
            runner.check_resumable(config, workdir, optimizer_may_change=False)
            todo.append((run, seed))
        elif recorded != _canonical(config.to_dict()):
            raise ConfigError(
                f"{workdir} was trained with another config than the study's {run!r} now; "
                "delete that folder (or rename the run) to train it again"
            )
    log(f"study {study.name}: {len(jobs)} runs, {len(jobs) - len(todo)} finished, {root}")
    started, worked = time.monotonic(), bool(todo)
    for done, (run, seed) in enumerate(todo):
        elapsed = time.monotonic() - started
        eta = format_duration(elapsed / done * (len(todo) - done)) if done else "?"
        log(f"run {done + 1}/{len(todo)}: {run} (seed {seed}), elapsed "
            f"{format_duration(elapsed)}, ETA {eta}")  # fmt: skip
        workdir = run_dir(root, run, seed)
        config = configs[(run, seed)]
        resumed_from = checkpoints.newest_step(checkpoints.workdir_checkpoints(workdir))
        run_started = time.monotonic()
        runner.train_and_evaluate(config, workdir)
        record = _run_record(config, time.monotonic() - run_started, resumed_from)
        reports.write_json(os.path.join(workdir, RUN_RECORD), record)
    # The extra protocols of every trained run that lacks them (also of runs trained
    # before the study defined them), or whose record holds other settings: testing
    # again costs no training, so a changed protocol is redone rather than an error.
    for (run, seed), config in configs.items():
        for name, overrides in study.evaluations.items():
            evaluated = evaluation_config(study, config, root, run, seed, name)
            record = os.path.join(evaluated.eval.output_dir, EVALUATION_RECORD)
            settings = _canonical(dict(overrides))
            if not os.path.exists(record) or _read_json(record) != settings:
                log(f"evaluation {name}: {run} (seed {seed})")
                runner.evaluate(evaluated, run_dir(root, run, seed))
                reports.write_json(record, settings)
                worked = True
    results = summarize(study, root, seeds)
    if worked:
        results["wall_time_s"] = round(time.monotonic() - started, 1)
    write_results(study, root, results)
    log(f"study {study.name}: results in {os.path.join(root, 'results.md')}")
    return results


def evaluation_config(
    study: Study,
    config: ml_collections.ConfigDict,
    root: str,
    run: str,
    seed: int,
    name: str,
) -> ml_collections.ConfigDict:
    """A run's config for the study's evaluation `name`: its `eval.*` overrides, and the
    scores written to `<run dir>/<name>/` (absolute)."""
    output_dir = os.path.abspath(os.path.join(run_dir(root, run, seed), name))
    return apply_overrides(config, {**study.evaluations[name], "eval.output_dir": output_dir})


def _cell_metrics(study: Study, cell: Cell, root: str, seed: int) -> dict[str, Any]:
    """The study's metric of one cell under one seed, over all classes and per class
    group: {metric: value, group: value or None}."""
    files = [
        score_files.load_scores(os.path.join(run_dir(root, r, seed), cell.evaluation, "scores.npz"))
        for r in cell.runs
    ]
    if len(files) > 1:
        score_files.check_same_videos(files, list(cell.runs))
    logits = score_files.fuse(
        [f.logits for f in files], cell.weights or (1.0,) * len(files), study.fusion
    )
    groups = files[0].protocol.get("class_groups") or {}
    if study.metric == "top1":
        metrics = classification_metrics(logits, files[0].labels, files[0].class_names, groups)
        return {"top1": metrics["top1"], **metrics.get("group_accuracy", {})}
    result = video_mean_average_precision(logits, files[0].labels)
    per_class = result["per_class_ap"]
    index = {name: i for i, name in enumerate(files[0].class_names)}
    by_group = {}
    for group, names in groups.items():
        values = per_class[[index[n] for n in names if n in index]]
        values = values[~np.isnan(values)]
        by_group[group] = float(np.mean(values)) if values.size else None
    return {"mAP": float(result["mAP"]), **by_group}


def _mean_spread(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    values = np.asarray(values, np.float64)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), spread


def judge(difference: float, spread: float | None) -> str:
    """A finding's verdict: the mean of the per-seed differences better - worse against
    their sample standard deviation (None with one seed)."""
    if spread is None:
        if difference == 0:
            return "no difference"
        return "same direction (1 seed: spread not measured)" if difference > 0 else "opposite"
    if difference > spread:
        return "reproduced"
    if difference < -spread:
        return "opposite"
    return "within the spread"


def _contributions(
    study: Study, per_seed: Mapping[tuple[str, str], Sequence[Mapping[str, float | None]]]
) -> list[dict[str, Any]]:
    """Phi and Psi of each `Contribution` on top-1 and each class group: per seed the
    mean over its pairs (`contribution.mean_contribution`), then the mean and spread over
    seeds (seeds where it is undefined left out)."""
    entries = []
    for item in study.contributions:
        first = per_seed[tuple(item.pairs[0][0])]
        for metric in first[0]:
            means = [
                mean_contribution([
                    (per_seed[tuple(a)][seed][metric], per_seed[tuple(b)][seed][metric])
                    for a, b in item.pairs
                    if None not in (per_seed[tuple(a)][seed][metric],
                                    per_seed[tuple(b)][seed][metric])
                ])
                for seed in range(len(first))
            ]  # fmt: skip
            entry = {"column": item.column, "row": item.row, "metric": metric}
            for index, name in enumerate(("phi", "psi")):
                values = [m[index] for m in means if m[index] is not None]
                entry[name] = values
                entry[f"{name}_mean"], entry[f"{name}_spread"] = (
                    _mean_spread(values) if values else (None, None)
                )
                entry[f"paper_{name}"] = item.paper.get(metric, (None, None))[index]
            entries.append(entry)
    return entries


def summarize(study: Study, root: str, seeds: int) -> dict[str, Any]:
    """The study's figures from its runs' score files.

    Returns:
      {'study', 'title', 'citation', 'metric', 'seeds', 'date' and 'machine' (of this
      summary), the keys of `_training_record` (when, where and how long), 'cells':
      [{'row', 'column', 'runs', 'paper', <metric>: [per seed], '<metric>_mean',
      '<metric>_spread', '<group>_mean', ...}],
      'findings': [{'text', 'metric', 'difference' (mean of the per-seed differences),
      'spread' (their sample standard deviation, None with one seed), 'verdict'}],
      'contributions': [{'column', 'row', 'metric', 'phi': [per seed], 'phi_mean',
      'phi_spread', 'paper_phi', and the same for 'psi'}]}.
    """
    per_seed = {
        key: [_cell_metrics(study, cell, root, seed) for seed in range(seeds)]
        for key, cell in study.cells.items()
    }
    cells = []
    by_key = {}
    for (row, column), cell in study.cells.items():
        entry = {"row": row, "column": column, "runs": list(cell.runs), "paper": cell.paper}
        for metric in per_seed[(row, column)][0]:
            values = [m[metric] for m in per_seed[(row, column)] if m[metric] is not None]
            if not values:
                continue
            if metric == study.metric:
                entry[metric] = values
            entry[f"{metric}_mean"], entry[f"{metric}_spread"] = _mean_spread(values)
        cells.append(entry)
        by_key[(row, column)] = entry
    findings = []
    for finding in study.findings:
        better, worse = by_key[tuple(finding.better)], by_key[tuple(finding.worse)]
        key = finding.metric or study.metric
        if f"{key}_mean" not in better or f"{key}_mean" not in worse:
            raise ValueError(f"finding {finding.text!r}: no {key!r} accuracy in its cells")
        # Seed s of every run shares its seed (data order, initialization, pretraining run),
        # so the two cells pair up by seed: the spread is that of the per-seed differences.
        pairs = zip(per_seed[tuple(finding.better)], per_seed[tuple(finding.worse)], strict=True)
        differences = [b[key] - w[key] for b, w in pairs if None not in (b[key], w[key])]
        difference, spread = _mean_spread(differences)
        findings.append({
            "text": finding.text,
            "metric": key,
            "difference": difference,
            "spread": spread,
            "verdict": judge(difference, spread),
        })  # fmt: skip
    return {
        "study": study.name,
        "title": study.title,
        "citation": study.citation,
        "metric": study.metric,
        "seeds": seeds,
        "date": datetime.date.today().isoformat(),
        "machine": host.machine_description(),
        **_training_record(study, root, seeds),
        "cells": cells,
        "findings": findings,
        "contributions": _contributions(study, per_seed),
    }


def _percent(mean: float | None, spread: float | None = None) -> str:
    if mean is None:
        return "-"
    text = f"{100 * mean:.1f}"
    return f"{text} ± {100 * spread:.1f}" if spread is not None else text


def _groups(results: Mapping[str, Any]) -> list[str]:
    """The class groups the cells report (e.g. ['appearance', 'order']), sorted."""
    means = {k[: -len("_mean")] for c in results["cells"] for k in c if k.endswith("_mean")}
    return sorted(means - {results["metric"]})


def _provenance(results: Mapping[str, Any]) -> str:
    """When and where the runs were trained and tested, and how long it took: the sum of
    the runs' recorded times, and this invocation's wall time when it trained or
    tested anything (a rerun that only summarizes reports none)."""
    first, last = results["trained"]
    dates = first if first == last else f"{first} to {last}"
    timed = results["runs"] - results["untimed_runs"]
    text = f"Runs trained {dates}"
    if timed:
        text += (
            f" on {'; '.join(results['machines'])}, in"
            f" {format_duration(results['train_time_s'])} summed over"
            f" {'the' if not results['untimed_runs'] else f'{timed} of the'}"
            f" {results['runs']} runs (training and its test)"
        )
        if results["resumed_runs"]:
            text += (
                f", {results['resumed_runs']} of which resumed an interrupted run: their"
                " time before that is not counted"
            )
    if results["untimed_runs"]:
        text += f"; {results['untimed_runs']} of the runs recorded no time or machine"
    text += f". Summarized {results['date']} on {results['machine']}"
    if "wall_time_s" in results:
        text += f"; this invocation took {format_duration(results['wall_time_s'])}"
    return text + "."


def format_markdown(study: Study, results: Mapping[str, Any]) -> str:
    """results.md: the paper's table with our figures (top-1 or mAP, and the paper's),
    the per-group figures, and the findings with their verdicts."""
    by_key = {(c["row"], c["column"]): c for c in results["cells"]}
    groups = _groups(results)
    metric = results["metric"]
    what = "Top-1 accuracy" if metric == "top1" else "Mean average precision over the classes"
    lines = [
        f"# {study.title}",
        "",
        f"{study.citation}. {what} (%) on the test split, ours (paper's in brackets"
        f" where it reports one); {results['seeds']} seed(s), mean ± sample standard "
        "deviation.",
        "",
        _provenance(results),
        "",
    ]
    header = ["", *study.columns]
    rows = []
    for row in study.rows:
        line = [row]
        for column in study.columns:
            cell = by_key.get((row, column))
            if cell is None:
                line.append("")
                continue
            text = _percent(cell[f"{metric}_mean"], cell[f"{metric}_spread"])
            if cell["paper"] is not None:
                text += f" ({100 * cell['paper']:.1f})"
            line.append(text)
        rows.append(line)
    lines += _markdown_table(header, rows)
    if groups:
        lines += ["", f"Per class group ({_METRIC_NAMES[metric]} %, mean over the group's "
                  "classes):", ""]  # fmt: skip
        header = ["", *[f"{column}: {group}" for column in study.columns for group in groups]]
        rows = []
        for row in study.rows:
            line = [row]
            for column in study.columns:
                cell = by_key.get((row, column), {})
                line += [_percent(cell.get(f"{g}_mean"), cell.get(f"{g}_spread")) for g in groups]
            rows.append(line)
        lines += _markdown_table(header, rows)
    lines += _contribution_lines(results)
    if results["findings"]:
        lines += ["", f"Findings (mean of the per-seed differences, {_METRIC_NAMES[metric]} "
                  "unless named; spread: their sample standard deviation):", ""]  # fmt: skip
        for finding in results["findings"]:
            spread = "" if finding["spread"] is None else f", spread {100 * finding['spread']:.1f}"
            group = "" if finding["metric"] == metric else f" ({finding['metric']} classes)"
            lines.append(
                f"- {finding['text']}{group}: {100 * finding['difference']:+.1f} points"
                f"{spread}: **{finding['verdict']}**"
            )
    if study.notes:
        lines += ["", study.notes.strip()]
    return "\n".join(lines) + "\n"


def _ratio(entry: Mapping[str, Any], name: str) -> str:
    """'0.53 ± 0.02 (0.46)': a Phi or Psi mean, its spread and the paper's figure."""
    mean, spread, paper = entry[f"{name}_mean"], entry[f"{name}_spread"], entry[f"paper_{name}"]
    text = "-" if mean is None else f"{mean:.2f}"
    if mean is not None and spread is not None:
        text += f" ± {spread:.2f}"
    return text + (f" ({paper:.2f})" if paper is not None else "")


def _contribution_lines(results: Mapping[str, Any]) -> list[str]:
    """The Phi / Psi table (Table 7's layout: a row per class group and measure, a column
    per architecture), or nothing for a study without contributions."""
    entries = results.get("contributions") or []
    if not entries:
        return []
    columns = list(dict.fromkeys(e["column"] for e in entries))
    rows = list(dict.fromkeys(e["row"] for e in entries))
    by_key = {(e["metric"], e["row"], e["column"]): e for e in entries}
    table = []
    for metric in dict.fromkeys(e["metric"] for e in entries):
        for row in rows:
            for name, symbol in (("phi", "Φ"), ("psi", "Ψ")):
                line = [
                    f"all ({_METRIC_NAMES[metric]})" if metric in METRICS else metric,
                    f"{symbol} ({row})",
                ]
                line += [_ratio(by_key[(metric, row, c)], name) if (metric, row, c) in by_key
                         else "" for c in columns]  # fmt: skip
                table.append(line)
    return [
        "",
        "Spatial contribution Φ and temporal improvement Ψ over TSN without temporal "
        "pooling (Chen et al., CVPR 2021, Eq. 1), mean over the backbone and frame-count "
        "pairs; the paper's Table 7 in brackets (appearance classes: Mini-Kinetics, order "
        "classes: Mini-SSV2):",
        "",
        *_markdown_table(["classes", "", *columns], table),
    ]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def plot(study: Study, results: Mapping[str, Any]):
    """A figure with a panel per column: for each row, bars of the study's metric (top-1
    or mAP) over all classes and of each class group (error bars: the spread over
    seeds); below them, for a study with contributions, a panel per class group with the
    bars of Phi and Psi."""
    # matplotlib's object API: pyplot's global backend (a notebook's) stays untouched.
    from matplotlib.figure import Figure

    entries = results.get("contributions") or []
    width = 1.2 + 0.9 * len(study.rows) * len(study.columns)
    fig = Figure(figsize=(width, 7.5 if entries else 4), layout="constrained")
    accuracy_fig, contribution_fig = fig.subfigures(2, 1, height_ratios=(4, 3.5)) if entries \
        else (fig, None)  # fmt: skip
    _plot_accuracies(accuracy_fig, study, results)
    if entries:
        _plot_contributions(contribution_fig, entries)
    fig.suptitle(study.title, fontsize=9)
    return fig


def _bars(ax, labels, series, spreads) -> None:
    """Grouped bars: one group per label, one bar per series (name -> values)."""
    x = np.arange(len(labels))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        errors = spreads.get(name)
        errors = [e or 0.0 for e in errors] if errors and any(errors) else None
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, yerr=errors,
               label=name, capsize=2)  # fmt: skip
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)


def _plot_accuracies(fig, study: Study, results: Mapping[str, Any]) -> None:
    by_key = {(c["row"], c["column"]): c for c in results["cells"]}
    metrics = [results["metric"], *_groups(results)]
    axes = fig.subplots(1, len(study.columns), squeeze=False, sharey=True)
    for ax, column in zip(axes[0], study.columns, strict=True):
        cells = [by_key.get((row, column), {}) for row in study.rows]
        series = {m: [100 * (c.get(f"{m}_mean") or 0.0) for c in cells] for m in metrics}
        spreads = {m: [100 * (c.get(f"{m}_spread") or 0.0) for c in cells] for m in metrics}
        _bars(ax, study.rows, series, spreads)
        ax.set_title(column, fontsize=9)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel(f"{_METRIC_NAMES[results['metric']]} (%)")
    axes[0][-1].legend(fontsize=7)


def _plot_contributions(fig, entries: Sequence[Mapping[str, Any]]) -> None:
    metrics = list(dict.fromkeys(e["metric"] for e in entries))
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics, strict=True):
        mine = [e for e in entries if e["metric"] == metric]
        labels = [f"{e['column']} ({e['row']})" for e in mine]
        series = {
            "Φ": [e["phi_mean"] or 0.0 for e in mine],
            "Ψ": [e["psi_mean"] or 0.0 for e in mine],
        }
        spreads = {"Φ": [e["phi_spread"] for e in mine], "Ψ": [e["psi_spread"] for e in mine]}
        _bars(ax, labels, series, spreads)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(f"Φ / Ψ: {'all classes' if metric in METRICS else metric}", fontsize=9)
        ax.set_ylim(min(-0.5, *series["Ψ"]), 1.05)
    axes[0][-1].legend(fontsize=7)


def write_results(study: Study, root: str, results: Mapping[str, Any]) -> None:
    """results.json, results.md and results.png in `root`."""
    reports.write_json(os.path.join(root, "results.json"), results)
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write(format_markdown(study, results))
    plot(study, results).savefig(os.path.join(root, "results.png"), dpi=120)
