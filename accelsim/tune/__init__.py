"""``accelsim tune``: the best quantization recipe a contract can run, and what it costs.

The search space is built per contract from what it can legally run (accelsim.quant.recipe.check_recipe):
activation range method; static, per-tensor dynamic or per-token dynamic scales (``requant.dynamic_activations``);
integer or float epilogue outputs (``requant.outputs``); SmoothQuant with alpha, or AWQ for weight-only
formats; GPTQ or nearest rounding; bias correction; and mixed precision (the k layers with the lowest own-error
SQNR under the naive recipe run in the widest type the contract has beside its integer type).

Each trial runs the contract's bit-accurate numerics on the workload's *calibration* records (the tuning set:
the evaluation records are never seen by the search), in two folds (ranges calibrated on half of them, the
recipe scored on the other half, and the other way round: the score is the worse fold's), and its timing model; optuna's NSGA-II sampler (seeded,
so a search is reproducible) explores the space on three objectives: accuracy (maximized: the end-to-end
metric's minimum over records, or the last layer's SQNR for a layer workload), latency and energy (minimized).
The chosen recipe is the most accurate trial (ties: the faster); it is then run once on the evaluation records,
and an ablation removes each of its steps in turn to give each step's gain.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from accelsim.errors import InputError
from accelsim.quant.recipe import Recipe, Step, check_recipe, layer_math
from accelsim.results.pareto import pareto_flags

#: trials of a search unless told otherwise (about 1-5 s each on MiniLM on 2 cores)
DEFAULT_TRIALS = 40
#: how many of the most sensitive layers mixed precision may widen
WIDEN_COUNTS = (0, 2, 4, 8)
SMOOTH_ALPHAS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class Trial:
    """One recipe tried: accuracy on the tuning records, latency (s) and energy (pJ) from the timing model."""

    recipe: Recipe
    accuracy: float
    latency_s: float
    energy_pj: float
    pareto: bool = False


@dataclass(frozen=True)
class TuneResult:
    """A search's trials, its Pareto front, the chosen recipe, and how it does on the evaluation records."""

    profile: str
    workload: str
    metric: str
    trials: tuple[Trial, ...]
    best: Trial
    naive: Trial
    evaluation: dict = field(default_factory=dict)   # {"naive": accuracy, "tuned": accuracy} on the evaluation records
    ablation: tuple[tuple[str, float], ...] = ()      # (step, evaluation accuracy without it)
    space: dict = field(default_factory=dict)         # the legal options per dimension
    qdq: tuple = ()                                   # QDQ models: every Q/DQ change measured (accelsim.tune.qdq)

    @property
    def pareto(self) -> list[Trial]:
        return [t for t in self.trials if t.pareto]

    @property
    def summary_text(self) -> str:
        return (f"{len(self.trials)} trials, tuning-set {self.metric} {self.naive.accuracy:.4f} naive -> "
                f"{self.best.accuracy:.4f}")

    def as_dict(self) -> dict:
        def t(x: Trial) -> dict:
            return {"recipe": x.recipe.text, "steps": x.recipe.as_dict()["recipe"]["steps"], "accuracy": x.accuracy,
                    "latency_s": x.latency_s, "energy_pj": x.energy_pj, "pareto": x.pareto}
        def q(c) -> dict:
            return {"kind": c.kind, "target": c.target, "legal": c.legal, "why": c.why,
                    "accuracy": None if math.isnan(c.accuracy) else c.accuracy,
                    "gain": None if math.isnan(c.gain) else c.gain,
                    "extra_latency_s": None if math.isnan(c.extra_latency_s) else c.extra_latency_s,
                    "extra_bytes": c.extra_bytes}
        return {"profile": self.profile, "workload": self.workload, "metric": self.metric, "space": self.space,
                "qdq_changes": [q(c) for c in self.qdq],
                "best": t(self.best), "naive": t(self.naive), "evaluation": self.evaluation,
                "ablation": [{"without": s, "accuracy": a} for s, a in self.ablation],
                "pareto": [t(x) for x in self.pareto], "trials": [t(x) for x in self.trials]}


class _Evaluator:
    """Runs a recipe: numerics on the tuning records (or the evaluation records), timing cached by what it reads."""

    def __init__(self, workload, profile, runtime=None):
        from accelsim.engine import layer_chain_spec
        from accelsim.quant import legalize
        from accelsim.workload.data import DataSource

        self.workload, self.profile, self.runtime = workload, profile, runtime
        self.base = legalize(workload, profile)
        self.spec = workload.graph if workload.graph is not None else layer_chain_spec(workload, DataSource(workload))
        cal = tuple(self.spec.calibration)
        if len(cal) >= 2:
            # two folds of the calibration records: ranges calibrated on one half, the recipe scored on the other
            # (and the other way round), so that a recipe is chosen for how it does on records its ranges never
            # saw — scoring on the records that set the ranges rewards recipes that fit them (measured: on MiniLM
            # with edge-npu-pot16 a recipe picked that way lost 0.04 min cosine on new sentences)
            a, b = cal[0::2], cal[1::2]
            self.folds = [dataclasses.replace(self.spec, calibration=a, evaluation=b),
                          dataclasses.replace(self.spec, calibration=b, evaluation=a)]
        else:  # one record (a layer workload's sample): ranges and score on it
            self.folds = [dataclasses.replace(self.spec, evaluation=cal)]
        self._timing: dict = {}
        self._caches = {"eval": {}, **{i: {} for i in range(len(self.folds))}}  # calibration and float outputs
        self.runs = 0

    def legal(self, recipe: Recipe):
        from accelsim.quant.recipe import apply_recipe

        return apply_recipe(self.base, recipe)

    def accuracy(self, recipe: Recipe, evaluation: bool = False, per_layer: bool = False) -> tuple[float, dict]:
        """(accuracy, per-layer results): the end-to-end metric's minimum over the records, or the last layer's
        SQNR (dB) for a layer workload; ``self.last_mean`` keeps the metric's mean."""
        from accelsim.graph.run import run_graph_numerics

        legal = self.legal(recipe)
        runs = [(self.spec, "eval")] if evaluation else [(f, i) for i, f in enumerate(self.folds)]
        mins, means, results = [], [], None
        for spec, key in runs:
            self.runs += 1
            results, e2e, _ = run_graph_numerics(legal, diagnose=False, spec=spec, metric_only=not per_layer,
                                                 cache=self._caches[key])
            if e2e is not None:
                mins.append(e2e["min"])
                means.append(e2e["mean"])
            else:
                last = results[self.workload.layers[-1].name].sqnr_db
                last = last if last is not None and math.isfinite(last) else 200.0
                mins.append(last)
                means.append(last)
        self.last_mean = float(sum(means) / len(means))
        return float(min(mins)), results

    def cost(self, recipe: Recipe) -> tuple[float, float]:
        from accelsim.engine import run

        legal = self.legal(recipe)
        key = tuple((n, p.output, p.activations.type_name, p.weights.type_name) for n, p in sorted(legal.plans.items()))
        if key not in self._timing:
            s = run(self.workload, self.profile, timing_only=True, recipe=recipe, runtime=self.runtime).summary()
            self._timing[key] = (s["latency_s"], s["energy_pj"])
        return self._timing[key]


def _wider_type(profile, plans) -> str | None:
    """The widest-accuracy type mixed precision can move a layer to on this contract: int16 activations (with the
    layer's integer weights), else the contract's fp16 / bf16; None if it has none."""
    if "int16" in profile.activation_types:
        return "int16"
    for fmt in ("fp16", "bf16"):
        if fmt in profile.activation_types and fmt in profile.weight_types:
            return fmt
    return None


def search_space(workload, profile, base) -> dict:
    """The legal options per dimension of the recipe space on ``profile``."""
    graph = workload.graph is not None
    linear = [lyr.name for lyr in workload.layers if lyr.op == "linear"]
    from accelsim.operands import FORMATS

    weight_only = any(p.activations.type_name in FORMATS and p.weights.type_name not in FORMATS
                      for p in base.plans.values())
    space = {"calibration": ["minmax", "percentile", "mse"]}
    if graph and linear:
        space["scaling"] = ["static", *profile.requant.dynamic_activations]
        space["output"] = ["integer", *(["float"] if "float" in profile.requant.outputs else [])]
        space["migration"] = ["none", *(["awq"] if weight_only else [f"smoothquant:{a}" for a in SMOOTH_ALPHAS])]
        space["rounding"] = ["nearest", "gptq"]
        space["bias_correction"] = [False, True]
    wide = _wider_type(profile, base.plans)
    if wide is not None:
        space["widen"] = list(WIDEN_COUNTS)
        space["widen_type"] = wide
    return space


def recipe_from(choice: dict, sensitive: list[str], space: dict) -> Recipe:
    """The Recipe of one point of the space (``sensitive``: layers, most sensitive first)."""
    steps = []
    if choice.get("calibration", "minmax") != "minmax":
        method = choice["calibration"]
        steps.append(Step("calibration", (("method", method),) + ((("percentile", 99.99),)
                                                                    if method == "percentile" else ())))
    mig = choice.get("migration", "none")
    if mig.startswith("smoothquant:"):
        steps.append(Step("smoothquant", (("alpha", float(mig.split(":")[1])),)))
    elif mig == "awq":
        steps.append(Step("awq"))
    if choice.get("rounding") == "gptq":
        steps.append(Step("gptq"))
    if choice.get("bias_correction"):
        steps.append(Step("bias_correction"))
    scaling = choice.get("scaling", "static")
    if scaling != "static":
        steps.append(Step("dynamic", (("granularity", scaling),)))
    elif choice.get("output") == "float":
        steps.append(Step("float_output"))
    k = int(choice.get("widen", 0))
    if k and sensitive:
        steps.append(Step("mixed_precision", (("type", space["widen_type"]),), tuple(sensitive[:k])))
    return Recipe(tuple(steps))


def tune(workload, profile, trials: int = DEFAULT_TRIALS, progress=None, seed: int = 0, runtime=None) -> TuneResult:
    """Search the recipes legal on ``profile`` for ``workload`` (see the module docstring), its latency and energy
    timed under ``runtime`` (an accelsim.runtime.RuntimeProfile; None: the profile as given). ``progress(done, total,
    text)`` is called before the search starts (done 0: the naive recipe), after each trial (an illegal recipe
    included) and before the best recipe is simplified."""
    try:
        import optuna
    except ImportError:  # an optional extra
        raise InputError("accelsim tune needs optuna: pip install 'accelsim[tune]'", field="tune") from None
    if trials < 1:
        raise InputError(f"must be at least 1, got {trials}", field="--trials")
    ev = _Evaluator(workload, profile, runtime)
    if workload.graph is not None and workload.graph.view.is_qdq:
        return _tune_qdq(ev, workload, profile, progress)
    space = search_space(workload, profile, ev.base)
    if progress is not None:
        progress(0, trials, "the naive recipe")
    naive_recipe = Recipe()
    naive_acc, naive_results = ev.accuracy(naive_recipe, per_layer=True)
    # mixed precision widens the layers that lose most on their own under the naive recipe
    own = [(r.sqnr_local_db if r.sqnr_local_db is not None else (r.sqnr_db if r.sqnr_db is not None else math.inf),
            name) for name, r in naive_results.items()
           if any(lyr.name == name and lyr.is_mac for lyr in workload.layers)]
    sensitive = [name for _, name in sorted(own)]
    naive = Trial(naive_recipe, naive_acc, *ev.cost(naive_recipe))
    seen: dict[str, Trial] = {naive_recipe.text: naive}
    done = [0]

    def objective(trial):
        choice = {k: trial.suggest_categorical(k, v) for k, v in space.items() if isinstance(v, list)}
        recipe = recipe_from(choice, sensitive, space)
        if not check_recipe(recipe, profile, [(lyr.name, lyr.op) for lyr in workload.layers],
                            layer_math(ev.base.plans)).legal:
            done[0] += 1
            if progress is not None:
                progress(done[0], trials, f"not legal here: {recipe.text[:60]}")
            raise optuna.TrialPruned()
        if recipe.text not in seen:
            acc, _ = ev.accuracy(recipe)
            seen[recipe.text] = Trial(recipe, acc, *ev.cost(recipe))
        t = seen[recipe.text]
        done[0] += 1
        if progress is not None:
            progress(done[0], trials, f"{t.accuracy:.4f} {recipe.text[:60]}")
        return t.accuracy, t.latency_s, t.energy_pj

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(20, trials // 3)))
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
    # the recipes a practitioner tries first, so that a short search always covers them
    for choice in _seeds(space):
        study.enqueue_trial(choice, skip_if_exists=True)
    study.optimize(objective, n_trials=trials, catch=())
    found = list(seen.values())
    if progress is not None:
        progress(trials, trials, "simplifying the best recipe")
    best = _simplified(max(found, key=lambda t: (round(t.accuracy, 6), -t.latency_s, -len(t.recipe.steps))), ev)
    if best.recipe.text not in {t.recipe.text for t in found}:
        found.append(best)
    flags = pareto_flags([(t.accuracy, t.latency_s, t.energy_pj) for t in found], (True, False, False))
    found = [dataclasses.replace(t, pareto=f) for t, f in zip(found, flags)]
    best = next(t for t in found if t.recipe.text == best.recipe.text)
    naive = next(t for t in found if t.recipe.text == naive_recipe.text)
    return _result(ev, workload, profile, found, best, naive, space)


def _result(ev, workload, profile, found, best, naive, space, qdq=()) -> TuneResult:
    """The search's result: the chosen and the naive recipe on the evaluation records, and the ablation."""
    evaluation = {"naive": ev.accuracy(naive.recipe, evaluation=True)[0]}
    evaluation["naive_mean"] = ev.last_mean
    evaluation["tuned"] = ev.accuracy(best.recipe, evaluation=True)[0]
    evaluation["tuned_mean"] = ev.last_mean
    ablation = tuple((best.recipe.steps[i].text, ev.accuracy(best.recipe.without(i), evaluation=True)[0])
                     for i in range(len(best.recipe.steps)))
    metric = ("min " + (workload.graph.metric or "metric")) if workload.graph is not None else \
        "final-layer SQNR (dB)"
    return TuneResult(profile=profile.name, workload=workload.name, metric=metric, trials=tuple(found), best=best,
                      naive=naive, evaluation=evaluation, ablation=ablation, space=space, qdq=tuple(qdq))


def _tune_qdq(ev, workload, profile, progress) -> TuneResult:
    """A QDQ model: which of its Q/DQ to remove (accelsim.tune.qdq), as a recipe."""
    from accelsim.tune.qdq import qdq_advice

    changes, chosen, _ = qdq_advice(ev, workload, profile, progress)
    naive = Trial(Recipe(), ev.accuracy(Recipe())[0], *ev.cost(Recipe()))
    found = {naive.recipe.text: naive}
    for c in changes:
        if c.legal:
            r = Recipe((c.step(),))
            found[r.text] = Trial(r, c.accuracy, *ev.cost(r))
    if chosen.text not in found:
        found[chosen.text] = Trial(chosen, ev.accuracy(chosen)[0], *ev.cost(chosen))
    trials = list(found.values())
    flags = pareto_flags([(t.accuracy, t.latency_s, t.energy_pj) for t in trials], (True, False, False))
    trials = [dataclasses.replace(t, pareto=f) for t, f in zip(trials, flags)]
    best = next(t for t in trials if t.recipe.text == chosen.text)
    naive = next(t for t in trials if t.recipe.text == "naive")
    space = {"layer output Q": sorted({c.target for c in changes if c.kind == "layer output Q"}),
             "glue Q/DQ": sorted({c.target for c in changes if c.kind == "glue Q/DQ"})}
    return _result(ev, workload, profile, trials, best, naive, space, qdq=changes)


def _simplified(best: Trial, ev: _Evaluator) -> Trial:
    """``best`` without the steps that do not help on the tuning records (a step is dropped when the recipe without
    it is at least as accurate and no slower): the written recipe says only what matters."""
    current = best
    i = 0
    while i < len(current.recipe.steps):
        candidate = current.recipe.without(i)
        acc, _ = ev.accuracy(candidate)
        latency, energy = ev.cost(candidate)
        if acc >= current.accuracy and latency <= current.latency_s:
            current = Trial(candidate, acc, latency, energy, current.pareto)
        else:
            i += 1
    return current


def _seeds(space: dict) -> list[dict]:
    """A few canonical points: the naive recipe plus one change at a time, and all the cheap ones together."""
    base = {k: v[0] for k, v in space.items() if isinstance(v, list)}
    out = []
    for key, values in space.items():
        if not isinstance(values, list):
            continue
        for v in values[1:2] if key != "scaling" else values[1:]:
            out.append({**base, key: v})
    best_guess = dict(base)
    if "scaling" in space and len(space["scaling"]) > 1:
        best_guess["scaling"] = space["scaling"][-1]
    if "output" in space and "float" in space["output"]:
        best_guess["output"] = "float"
    out.append(best_guess)
    return out
