"""Command line: parses arguments, calls the library, prints, sets exit codes.

Exit codes: 0 success, 2 bad input (one-line message on stderr, nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from accelsim import __version__
from accelsim.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"accelsim: error: {message} (see 'accelsim --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="accelsim", description="What a quantized network computes and costs on an accelerator.")
    p.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="simulate a workload on one or more hardware profiles")
    c = sub.add_parser("compare", help="compare hardware contracts on one workload: ranking, report")
    for q, html_help in ((r, "write the interactive HTML report to PATH"),
                         (c, "write the comparison report (interactive HTML) to PATH")):
        q.add_argument("workload", help="workload YAML file or built-in workload name")
        q.add_argument("--hw", action="append", required=True, metavar="PROFILE",
                       help="built-in profile name or profile YAML (repeatable)")
        q.add_argument("--out", metavar="DIR", help="directory for results.json and results.csv (default: "
                                                    "reports/<workload>/<profile> or .../compare-<p1>+<p2>...)")
        q.add_argument("--format", choices=("table", "json", "csv"), default="table",
                       help="what to print; json/csv go to stdout and write files only into an explicit --out")
        q.add_argument("--html", metavar="PATH", help=html_help)
        q.add_argument("--no-write", action="store_true",
                       help="write no results files (an explicit --html is still written)")
        q.add_argument("--timing-only", action="store_true",
                       help="skip the numerics: cost only (latency, energy, traffic; numerics fields empty)")
        q.add_argument("--diagnose", action="store_true",
                       help="ONNX models: also re-run the graph with accelsim's calibration methods, the glue's Q/DQ "
                            "removed and per-channel weights, to show where the accuracy goes")
        q.add_argument("--dim", action="append", default=[], metavar="NAME=N",
                       help="ONNX models: bind a dynamic dimension (repeatable), e.g. --dim seq=128")
        q.add_argument("--data", metavar="NPZ", help="ONNX models: .npz of model inputs (calibration and evaluation)")
        q.add_argument("--reference", metavar="ONNX", help="QDQ ONNX models: the float model to measure accuracy against "
                                                          "(default: the same graph without Q/DQ)")
        q.add_argument("--recipe", metavar="YAML|auto",
                       help="a quantization recipe (as accelsim tune writes it), or 'auto' to search the best legal "
                            "one per profile; overrides the workload's quant.recipe")
        q.add_argument("--trials", type=_count("--trials", 10000), default=None,
                       help="--recipe auto: recipes tried per profile (default 40, as accelsim tune)")
        _runtime_argument(q)
    tn = sub.add_parser("tune", help="search the quantization recipes legal on a contract: accuracy vs latency and "
                                     "energy, the best recipe written as YAML")
    tn.add_argument("workload", help="workload YAML file or built-in workload name (a model or ONNX workload)")
    tn.add_argument("--hw", required=True, metavar="PROFILE", help="built-in profile name or profile YAML")
    tn.add_argument("--trials", type=_count("--trials", 10000), default=None,
                    help="recipes to try (default 40; optuna's NSGA-II, seeded)")
    tn.add_argument("--out", metavar="YAML", help="where to write the chosen recipe (default: "
                                                  "reports/<workload>/<profile>/recipe.yaml; tune.json beside it)")
    tn.add_argument("--format", choices=("table", "json"), default="table", help="json: the search as one object")
    _runtime_argument(tn)
    llm = sub.add_parser("llm", help="a whole LLM on a contract: time to first token, time per output token, "
                                     "tokens/s, energy per token (timing only, about a second)")
    llm.add_argument("model", help="built-in model shape (llama2-7b, llama2-13b, llama2-70b, llama3-8b, mistral-7b, gptj-6b) "
                                   "or a workload YAML with an 'llm:' section")
    llm.add_argument("--hw", action="append", required=True, metavar="PROFILE",
                     help="built-in profile name or profile YAML (repeatable)")
    llm.add_argument("--prompt", type=_count("--prompt", 1 << 24), default=2048, help="prompt tokens per sequence")
    llm.add_argument("--decode", type=_count("--decode", 1 << 20), default=128,
                     help="output tokens per sequence (the first comes from the prefill, then one per decode step)")
    llm.add_argument("--batch", type=_count("--batch", 1 << 16), default=1, help="sequences run together")
    _sustained_arguments(llm)
    _runtime_argument(llm)
    llm.add_argument("--tp", type=_count("--tp", 64), default=1,
                     help="tensor-parallel devices (Megatron sharding, one-shot / two-shot all-reduces over the profile's interconnect); "
                          "times are one device's, which all run in step")
    llm.add_argument("--weights", choices=("int8", "int4", "fp8", "fp16", "bf16", "mxfp8", "mxfp4", "nvfp4"),
                     default="int8",
                     help="weight precision")
    llm.add_argument("--activations", choices=("int8", "fp8", "fp16", "bf16", "mxfp8", "mxfp4", "nvfp4"), default=None,
                     help="the GEMMs' format (default: int8 for integer weights, else the weights' format)")
    llm.add_argument("--kv", choices=("int8", "fp8", "fp16"), default="int8", help="KV-cache precision")
    llm.add_argument("--format", choices=("table", "json"), default="table",
                     help="json: one object with ttft_s, tpot_s, tokens_per_s, energy_per_token_j, ... (a list of "
                          "them for several --hw)")
    sv = sub.add_parser("serve", help="an LLM inference server on a contract: a discrete-event simulation of "
                                      "arrivals, batching and the KV cache (throughput, TTFT/TPOT percentiles)")
    sv.add_argument("model", help="built-in model shape or a workload YAML with an 'llm:' section")
    sv.add_argument("--hw", required=True, metavar="PROFILE", help="built-in profile name or profile YAML")
    sv.add_argument("--rate", type=_positive("--rate", 1e6), default=None,
                    help="Poisson arrivals per second (or --trace)")
    sv.add_argument("--trace", metavar="CSV", help="requests from a trace: arrival_s, prompt_tokens, output_tokens")
    sv.add_argument("--max-throughput", type=_count("--max-throughput", 1_000_000), default=None, metavar="N",
                    help="the max-throughput benchmark instead of traffic: N requests of --prompt-dist fixed:ISL and "
                         "--output-dist fixed:OSL queued at t = 0, in-flight batching at the limits trtllm-bench "
                         "sizes from the KV cache, drained (docs/serving.md)")
    sv.add_argument("--prompt-dist", default="uniform:128,1024", metavar="DIST",
                    help="prompt lengths: fixed:N, uniform:LO,HI or a CSV of lengths (default uniform:128,1024)")
    sv.add_argument("--output-dist", default="uniform:64,512", metavar="DIST",
                    help="output lengths: fixed:N, uniform:LO,HI or a CSV of lengths (default uniform:64,512)")
    sv.add_argument("--weights", action="append", choices=("int8", "int4", "fp8", "fp16", "bf16", "mxfp8", "mxfp4",
                                                           "nvfp4"),
                    help="weight precision (repeat with --kv to compare deployments; default fp16)")
    sv.add_argument("--kv", action="append", choices=("int8", "fp8", "fp16"), help="KV-cache precision (default fp16)")
    sv.add_argument("--batch-policy", choices=("continuous", "static"), default=None,
                    help="default: the runtime's scheduler (in-flight: continuous)")
    sv.add_argument("--prefill", choices=("separate", "chunked"), default=None,
                    help="continuous batching: prefill iterations of their own (vLLM) or chunks mixed into decode "
                         "iterations (Sarathi-Serve, TensorRT-LLM's in-flight batching); default: the runtime's")
    sv.add_argument("--max-batch", type=_count("--max-batch", 1 << 16), default=None,
                    help="sequences running at once (default: the runtime's scheduler)")
    sv.add_argument("--chunk-tokens", type=_count("--chunk-tokens", 1 << 20), default=None,
                    help="chunked prefill: tokens per iteration (default: the runtime's max tokens per iteration)")
    sv.add_argument("--duration", type=_positive("--duration", 86400.0), default=60.0,
                    help="seconds of arrivals (default 60)")
    sv.add_argument("--drain", action="store_true", help="run until every arrived request has finished")
    sv.add_argument("--slo-ttft", type=_positive("--slo-ttft", 3600.0), default=None, metavar="S",
                    help="also find the largest rate whose p99 TTFT stays under S seconds (bounded search)")
    _sustained_arguments(sv)
    _runtime_argument(sv)
    sv.add_argument("--tp", type=_count("--tp", 64), default=1, help="tensor-parallel devices")
    sv.add_argument("--memory-fraction", type=_positive("--memory-fraction", 1.0), default=None, metavar="F",
                    help="the KV cache's share of memory (default: the runtime's: vLLM 0.9 of the device, "
                         "TensorRT-LLM 0.95 of what the weights leave free)")
    sv.add_argument("--seed", type=int, default=0)
    sv.add_argument("--format", choices=("table", "json"), default="table",
                    help="json: requests_arrived, requests_completed, ..., ttft_p99_s, kv_cache_peak_fraction")
    sv.add_argument("--html", metavar="PATH", help="latency CDFs and KV-cache occupancy over time (self-contained)")
    sw = sub.add_parser("sweep", help="a design-space sweep over a base profile: a table per point, Pareto front, "
                                      "cached, on Dask")
    sw.add_argument("file", help="sweep YAML (workload, base, axes, sample, objectives: docs/sweeps.md)")
    sw.add_argument("--out", metavar="DIR", help="where sweep.parquet and sweep.csv go (default reports/sweep-<name>)")
    sw.add_argument("--html", metavar="PATH", help="the Pareto front and each axis's effect (self-contained HTML)")
    sw.add_argument("--cache", metavar="DIR", help="numerics and rows cache (default DIR/cache; delete it any time)")
    sw.add_argument("--no-cache", action="store_true", help="run every point afresh and keep nothing")
    sw.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler (tcp://host:8786 or a scheduler "
                                                        "file .json) instead of a local cluster")
    sw.add_argument("--workers", type=_count("--workers", 1024), default=2, help="local cluster worker processes")
    hw = sub.add_parser("hw", help="hardware profiles")
    hw_sub = hw.add_subparsers(dest="hw_command", required=True, parser_class=_Parser)
    hw_sub.add_parser("list", help="list built-in profiles")
    show = hw_sub.add_parser("show", help="show a profile with its derived figures and energy table")
    show.add_argument("name", help="built-in profile name or YAML path")
    v = sub.add_parser("validate", help="validate hardware-profile and workload YAML files")
    v.add_argument("files", nargs="+")
    return p


def _positive(flag: str, limit: float):
    """argparse type: a number in (0, limit] (one-line error otherwise)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (0 < value <= limit):
            raise argparse.ArgumentTypeError(f"{flag} takes a number in (0, {limit:g}], got '{text[:40]}'")
        return value
    return parse


def _count(flag: str, limit: int):
    """argparse type: a whole number 1..limit (one-line error otherwise)."""
    def parse(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= limit:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number from 1 to {limit}, got '{text[:40]}'")
        return int(text)
    return parse


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed as one line)
        return int(exc.code or 0)
    args.argv = argv  # the exact command, recorded in results and reports
    try:
        return _dispatch(args)
    except InputError as exc:
        print(f"accelsim: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the numerics API's argument errors
        print(f"accelsim: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted; nothing written", file=sys.stderr)
        return 130
    except MemoryError:  # the up-front estimates (accelsim.resources) should have caught this: say what to turn
        print("accelsim: error: out of memory; lower numerics.sample, the shapes or --dim values", file=sys.stderr)
        return 2
    except RecursionError:
        print("accelsim: error: input nested too deeply to process", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "hw":
        return _cmd_hw(args)
    if args.command == "compare":
        return _cmd_compare(args)
    if args.command == "validate":
        return _cmd_validate(args)
    if args.command == "llm":
        return _cmd_llm(args)
    if args.command == "tune":
        return _cmd_tune(args)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "sweep":
        return _cmd_sweep(args)
    return _cmd_run(args)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False, width=None if (sys.stderr if stderr else sys.stdout).isatty()
                   else 160)


def _cmd_hw(args) -> int:
    from accelsim.hardware import list_profiles, load_profile
    from accelsim.report.terminal import energy_table, profile_table

    console = _console()
    if args.hw_command == "list":
        from rich.table import Table

        t = Table(header_style="bold")
        for col in ("name", "peak", "ridge point (MAC/B)", "accumulator", "requant", "description"):
            t.add_column(col)
        for name in list_profiles():
            p = load_profile(name)
            t.add_row(name, f"{p.peak_ops_per_s / 1e12:.3g} TOPS", f"{p.ridge_point:.1f}",
                      f"{p.accumulator.bits}-bit {p.accumulator.overflow}", p.requant.scale, p.description)
        from accelsim.hardware.host import ALIAS, host_contract

        name, why = host_contract()
        t.add_row(ALIAS, "", "", "", "", f"= {name} on this machine ({why})")
        console.print(t)
        return 0
    profile = load_profile(args.name)
    console.print(profile_table(profile))
    console.print(energy_table(profile))
    return 0


def _cmd_validate(args) -> int:
    from accelsim.configfile import load_yaml
    from accelsim.hardware import load_profile_file
    from accelsim.loading import load_workload

    for f in args.files:
        if f.endswith(".onnx"):
            from accelsim.loading import load_graph_checked

            g = load_graph_checked(f)
            kind = "QDQ" if g.is_qdq else "float"
            print(f"{f}: ok ({kind} ONNX model, {len(g.layers)} integer layers, {len(g.nodes)} nodes; dynamic dims: "
                  f"{', '.join(sorted({d for ds in g.input_dims().values() for d in ds if isinstance(d, str)})) or 'none'})")
            continue
        loaded = load_yaml(f)
        if any(k in loaded.data for k in ("layers", "inputs", "model", "onnx")):
            from accelsim.workload.data import DataSource

            w = load_workload(f)
            for warning in DataSource(w).warnings:  # .npz data checked too
                print(f"accelsim: warning: {warning}", file=sys.stderr)
            print(f"{f}: ok (workload '{w.name}', {len(w.layers)} layers, {w.total_macs:,} MACs)")
        else:
            p = load_profile_file(f)
            print(f"{f}: ok (hardware profile '{p.name}', {p.peak_ops_per_s / 1e12:.3g} TOPS)")
    return 0


#: bits per element moved (block formats include their scales' share: MXFP4 4 + 8/32, NVFP4 4 + 8/16)
_BITS = {"int4": 4, "int8": 8, "fp8": 8, "fp16": 16, "bf16": 16, "mxfp8": 8.25, "mxfp4": 4.25, "nvfp4": 4.5}


def _llm_config(ref: str, weights: str, kv: str, activations: str | None = None):
    """A built-in model shape, or the llm: section of a workload YAML, at the chosen precisions."""
    import dataclasses

    from accelsim.workload.llm import MODELS

    if ref in MODELS:
        cfg = MODELS[ref]
    elif ref.endswith((".yaml", ".yml")) or "/" in ref:
        from accelsim.loading import load_workload

        w = load_workload(ref)
        if w.llm is None:
            raise InputError("has no 'llm:' section (the model's layers, hidden, heads, ffn, prompt)", source=ref)
        cfg = w.llm.config
    else:
        from accelsim.configfile import suggest

        raise InputError(f"unknown model '{ref}'{suggest(ref, list(MODELS))}; built-in: {', '.join(MODELS)} "
                         f"(or a workload YAML with an 'llm:' section)", field="model")
    math = activations or ("int8" if weights.startswith("int") else weights)
    return dataclasses.replace(cfg, weight_bits=_BITS[weights], kv_cache_bits=_BITS[kv], activation_bits=_BITS[math],
                               math_format=math)


#: the contract operand types a --weights choice stands for (either FP8 or MX FP8 variant will do)
_WEIGHT_TYPES = {"fp8": ("fp8_e4m3", "fp8_e5m2"), "mxfp8": ("mxfp8_e4m3", "mxfp8_e5m2")}


def _check_weights(profile, weights: str, math: str | None = None) -> None:
    """--weights must be an operand type the contract lists, and the GEMMs' format (``math``: --activations, or
    what the weights imply) a math it has (InputError naming the flag otherwise): an int8-only contract does not
    run int4 weights at int4's bytes, nor fp16 GEMMs at a rate it does not have."""
    if not any(t in profile.weight_types for t in _WEIGHT_TYPES.get(weights, (weights,))):
        raise InputError(f"'{profile.name}' has no {weights} weights (its weight types: "
                         f"{', '.join(profile.weight_types)})", field="--weights")
    if math is not None:
        try:
            profile.at_format(math)
        except ValueError as exc:
            raise InputError(str(exc), field="--activations" if math != weights else "--weights") from None


def _sustained_arguments(parser) -> None:
    """--compute-efficiency / --dram-efficiency: run the contract at the shares of its datasheet rates real kernels
    sustain (HardwareProfile.sustained)."""
    parser.add_argument("--compute-efficiency", type=_positive("--compute-efficiency", 1.0), default=1.0, metavar="F",
                        help="share of the datasheet MAC rate the kernels sustain (default 1; docs/validation.md fits "
                             "0.60 on h100-sxm FP8 and 0.85 on a100-80gb FP16 for TensorRT-LLM v0.6.1)")
    parser.add_argument("--dram-efficiency", type=_positive("--dram-efficiency", 1.0), default=1.0, metavar="F",
                        help="share of the datasheet DRAM bandwidth the kernels sustain (default 1; fitted: 0.80 on "
                             "h100-sxm, 0.75 on a100-80gb)")


def _runtime_argument(parser) -> None:
    """--runtime: the software stack the contract runs under (a runtime profile: hw_profiles/runtimes/)."""
    parser.add_argument("--runtime", metavar="NAME|YAML", default=None,
                        help="the software stack: a built-in runtime profile (ideal, trtllm-0.5, trtllm-0.6, "
                             "trtllm-0.13, trtllm-1.0, vllm-0.6, onnxruntime) or a runtime YAML; default: the newest "
                             "built-in sourced for the hardware (NVIDIA GPUs: trtllm-1.0), else ideal "
                             "(docs/runtimes.md)")


def _runtime(args, profile):
    """The runtime profile of ``--runtime`` (or the contract's default) resolved for ``profile``."""
    from accelsim.runtime import load_runtime

    return load_runtime(args.runtime, profile.name)


def _sustained(profile, args):
    """The profile at the sustained shares given on the command line (--compute-efficiency, --dram-efficiency)."""
    try:
        return profile.sustained(compute=args.compute_efficiency, dram=args.dram_efficiency)
    except ValueError as e:  # a systolic array: its cycles are exact, there is no compute share to scale
        raise InputError(str(e), field="--compute-efficiency") from None


def _cmd_llm(args) -> int:
    import json

    from accelsim.hardware import load_profile
    from accelsim.timing.llm import model_llm

    cfg = _llm_config(args.model, args.weights, args.kv, args.activations)
    tokens = args.batch * (args.prompt + args.decode)
    if tokens * cfg.hidden * max(cfg.ffn, args.prompt + args.decode) > 1 << 56:
        raise InputError(f"batch x (prompt + decode) = {tokens:,} tokens is too large to time for this model "
                         f"(the largest GEMM would exceed 2^56 MACs)", field="--batch")
    from accelsim.serve.cost import tensor_parallel

    profiles = [_sustained(load_profile(h), args) for h in args.hw]
    for p in profiles:
        _check_weights(p, args.weights, cfg.math_format)
    runtimes = [_runtime(args, p) for p in profiles]
    devices = [tensor_parallel(p, cfg, args.tp) for p in profiles]
    need = devices[0].memory_bytes(args.batch, args.prompt + args.decode)
    for p in profiles:  # a model that cannot be resident on the device has no such latency: say so, do not time it
        if p.dram.bytes is not None and need > p.dram.bytes:
            per = " per device" if args.tp > 1 else ""
            raise InputError(f"{cfg.name} needs {_gib(need)}{per} on '{p.name}' ({_gib(devices[0].weight_bytes())} of "
                             f"weights + the KV cache of {args.batch} x {args.prompt + args.decode} tokens) but the "
                             f"device has {_gib(p.dram.bytes)}: narrow --weights / --kv, lower --batch, or shard with "
                             f"--tp", field="--hw")
    from accelsim.runtime import IDEAL

    summaries = []
    for p, rt, dev in zip(profiles, runtimes, devices):
        run = model_llm(p, dev, prompt=args.prompt, decode_steps=args.decode - 1, batch=args.batch, runtime=rt)
        bound = run if rt.name == "ideal" else model_llm(p, dev, prompt=args.prompt, decode_steps=args.decode - 1,
                                                         batch=args.batch, runtime=IDEAL)
        summaries.append(dict(run.summary(), runtime_settings=rt.as_dict(), memory_bytes_needed=need,
                              device_memory_bytes=p.dram.bytes,
                              ideal={k: bound.summary()[k] for k in ("ttft_s", "tpot_s", "tokens_per_s",
                                                                      "energy_per_token_j")}))
    if args.format == "json":
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
        return 0
    from rich.table import Table

    from accelsim.report.terminal import _si

    shard = f", tensor parallel over {args.tp} devices" if args.tp > 1 else ""
    t = Table(title=f"{cfg.name}{shard}: batch {args.batch}, prompt {args.prompt}, {args.decode} output tokens, "
                    f"{args.weights} weights, {cfg.math_format} math, {args.kv} KV cache", title_justify="left",
              header_style="bold")
    for col in ("profile", "runtime", "TTFT", "TPOT", "tokens/s", "energy/token", "memory per device",
                "prefill bound by", "decode bound by"):
        t.add_column(col, justify="left" if col in ("profile", "runtime", "prefill bound by", "decode bound by")
                     else "right")
    for s, rt in zip(summaries, runtimes):
        device = s["device_memory_bytes"]
        memory = f"{_gib(s['memory_bytes_needed'])} of {_gib(device)}" if device else _gib(s["memory_bytes_needed"])
        ideal = s["ideal"]
        t.add_row(s["profile"], s["runtime"] + ("" if rt.sourced or rt.name == "ideal" else " (not sourced here)"),
                  f"{s['ttft_s'] * 1e3:.3g} ms", f"{s['tpot_s'] * 1e3:.3g} ms", f"{s['tokens_per_s']:.4g}",
                  _si(s["energy_per_token_j"], "J"), memory,
                  f"{s['prefill_binding_resource']} ({s['prefill_binding_share']:.0%} of its time)",
                  f"{s['decode_binding_resource']} ({s['decode_binding_share']:.0%} of its time)")
        if rt.name != "ideal":
            t.add_row("", "ideal (bound)", f"{ideal['ttft_s'] * 1e3:.3g} ms", f"{ideal['tpot_s'] * 1e3:.3g} ms",
                      f"{ideal['tokens_per_s']:.4g}", _si(ideal["energy_per_token_j"], "J"), "", "", "",
                      style="dim")
    _console().print(t)
    return 0


def _gib(nbytes: float) -> str:
    """Device memory in GiB, the unit the contracts state it in (as nvidia-smi counts it)."""
    return f"{nbytes / 2**30:.1f} GiB"


def _simulate(args):
    """Load and check everything first (inputs, output paths), then run every profile under its runtime (and at
    the ideal bound beside it)."""
    from accelsim.engine import ideal_bound, run
    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload
    from accelsim.workload.data import DataSource

    dims = _parse_dims(args.dim)
    workload = load_workload(args.workload, dims=dims or None, data=args.data, reference=args.reference)
    if args.recipe is not None:
        import dataclasses

        from accelsim.quant.recipe import load_recipe

        workload = dataclasses.replace(workload, recipe="auto" if args.recipe == "auto" else load_recipe(args.recipe))
    profiles = [load_profile(h) for h in args.hw]
    for p in profiles:  # a bad --runtime is a one-line error before anything runs
        _runtime(args, p)
    seen: dict[str, str] = {}
    for h, p in zip(args.hw, profiles):
        if p.name in seen:
            raise InputError(f"two profiles are named '{p.name}' ('{seen[p.name]}' and '{h}'); results are keyed "
                             f"by profile name: rename one (its 'name:' field)", field="--hw")
        seen[p.name] = h
    targets = _output_targets(args, workload, profiles)
    if args.diagnose and args.timing_only:
        raise InputError("--diagnose re-runs the numerics, which --timing-only skips: choose one", field="--diagnose")
    if args.diagnose and workload.graph is None:
        raise InputError("--diagnose applies to ONNX models", field="--diagnose")
    data = None if args.timing_only else DataSource(workload)
    for warning in (data.warnings if data is not None else []):
        print(f"accelsim: warning: {warning}", file=sys.stderr)
    results = []
    if workload.recipe == "auto" and args.timing_only:
        raise InputError("recipe 'auto' searches on the numerics, which --timing-only skips: choose one",
                         field="--recipe")
    if args.trials is not None and workload.recipe != "auto":
        raise InputError("--trials sets the search of --recipe auto (or quant.recipe: auto); this run has no search",
                         field="--trials")
    with _progress(len(profiles) * len(workload.layers)) as advance:
        for profile in profiles:
            recipe = tuned = None
            if workload.recipe == "auto":  # each contract's best legal recipe (accelsim tune), then its run
                from accelsim.tune import DEFAULT_TRIALS, tune

                tuned = tune(workload, profile, trials=args.trials or DEFAULT_TRIALS, runtime=_runtime(args, profile),
                             progress=lambda done, total, text, p=profile: advance.show(
                                 f"{p.name}: recipe search {done}/{total}: {text}"))
                recipe = tuned.best.recipe
            runtime = _runtime(args, profile)
            result = run(workload, profile, data, progress=lambda name, p=profile: advance(f"{p.name}: {name}"),
                         diagnose=args.diagnose, timing_only=args.timing_only, recipe=recipe, runtime=runtime)
            result.ideal = ideal_bound(result)
            if tuned is not None:
                result.tuned = tuned
                result.notes.insert(1, f"recipe searched by accelsim tune ({tuned.summary_text}); the naive recipe "
                                       f"reached {tuned.evaluation['naive']:.4f} on the evaluation records")
            results.append(result)
    return workload, results, targets


def _parse_dims(items: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key or not value.isdigit() or int(value) <= 0 or len(value) > 12:
            raise InputError(f"expected NAME=N with 0 < N < 10^12, got '{item[:60]}'", field="--dim")
        if key in dims:
            raise InputError(f"'{key}' is given twice", field="--dim")
        dims[key] = int(value)
    return dims


def results_dir_name(profiles) -> str:
    """Directory of one run's results under reports/<workload>/: the profile, or the compared set."""
    import hashlib

    names = [p.name for p in profiles]
    text = names[0] if len(names) == 1 else "compare-" + "+".join(names)
    if len(text) > 120:  # many profiles: a readable head and a digest of the whole set
        text = f"compare-{names[0]}+{len(names) - 1}-more-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    return text


def _output_targets(args, workload, profiles) -> dict:
    """Every file this command will write, checked before any simulation (nothing is created here)."""
    from accelsim.results.io import resolve_output_dir, resolve_output_file

    targets: dict = {"html": None, "json": None, "csv": None}
    if args.html is not None:
        targets["html"] = resolve_output_file(args.html, field="--html")
    # results files: always for a table run (default reports/<workload>/<profiles>/); with --format json|csv the
    # results go to stdout and files are written only into an explicit --out; never with --no-write
    if args.out is not None and not args.out.strip():
        raise InputError("empty path; give a directory", field="--out")
    write = not args.no_write and (args.format == "table" or args.out is not None)
    if write:
        out = Path(args.out) if args.out is not None else (Path("reports") / _safe_component(workload.name)
                                                           / results_dir_name(profiles))
        directory = resolve_output_dir(out, field="--out")
        targets["json"] = resolve_output_file(directory / "results.json", field="--out")
        targets["csv"] = resolve_output_file(directory / "results.csv", field="--out")
        _check_not_another_run(targets["json"], workload, profiles)
        targets["out_dir"] = out
    if targets["html"] is not None and targets["html"] in (targets["json"], targets["csv"]):
        raise InputError("is also where the results files go; choose another path", source=args.html, field="--html")
    return targets


def _safe_component(name: str) -> str:
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "workload"
    return safe[:100]


def _check_not_another_run(json_path: Path, workload, profiles) -> None:
    """Refuse to replace results that another workload or profile set wrote (a rerun replaces its own)."""
    import json

    if not json_path.is_file():
        return
    try:
        with open(json_path, encoding="utf-8") as fh:
            summary = json.load(fh).get("summary", {})
        theirs = (summary.get("workload"), [p.get("profile") for p in summary.get("profiles", [])])
    except (OSError, ValueError, AttributeError, TypeError):
        raise InputError("exists and is not accelsim results; choose another --out", source=str(json_path),
                         field="--out") from None
    ours = (workload.name, [p.name for p in profiles])
    if theirs != ours:
        raise InputError(f"holds the results of workload '{theirs[0]}' on {', '.join(map(str, theirs[1]))}; "
                         f"accelsim does not overwrite another run's results: choose another --out",
                         source=str(json_path), field="--out")


def _emit(args, workload, results, targets, print_tables) -> None:
    import pandas as pd

    from accelsim.results import atomic_write, to_csv_text, to_json_text

    frame = pd.concat([r.frame for r in results], ignore_index=True)
    summary = {"workload": workload.name, "workload_file": workload.source, "accelsim_version": __version__,
               "command": _command_line(args), "profiles": [r.summary() for r in results]}
    json_text = to_json_text(frame, summary)
    csv_text = to_csv_text(frame)
    html_text = None
    if targets["html"] is not None:
        from accelsim.report.html import render_report

        html_text = render_report(results, workload, _command_line(args))
    if args.format == "json":
        print(json_text)
    elif args.format == "csv":
        print(csv_text, end="")
    else:
        print_tables()
    # every file is complete before any is visible (each written to a temporary file, then renamed)
    written = []
    if targets["json"] is not None:
        atomic_write(targets["json"], json_text)
        atomic_write(targets["csv"], csv_text)
        written += [str(targets["out_dir"] / "results.json"), str(targets["out_dir"] / "results.csv")]
    if html_text is not None:
        atomic_write(targets["html"], html_text)
        written.append(args.html)
    if written:
        print(f"written: {', '.join(written)}", file=sys.stdout if args.format == "table" else sys.stderr)


def _command_line(args) -> str:
    import shlex

    return "accelsim " + " ".join(shlex.quote(a) for a in args.argv)


def _cmd_run(args) -> int:
    from accelsim.report.terminal import diagnosis_table, print_run, runtime_line

    workload, results, targets = _simulate(args)

    def tables():
        console = _console()
        for r in results:
            print_run(console, r.frame, r.profile.name, workload.name, r.notes,
                      None if r.timing_only else workload.sample, r.llm, r.changes, r.end_to_end, r.network)
            console.print(runtime_line(r))
            if args.diagnose:
                table = diagnosis_table(r)
                console.print(table if table is not None else
                              f"{r.profile.name}: --diagnose found no integer layer to diagnose")

    _emit(args, workload, results, targets, tables)
    return 0


def _cmd_compare(args) -> int:
    from accelsim.engine import float_baseline
    from accelsim.report.terminal import baseline_table, comparison_table, legalization_table, runtime_line

    workload, results, targets = _simulate(args)
    for r in results:  # what quantization buys on each contract: against its own float baseline
        r.baseline = float_baseline(r)

    def tables():
        console = _console()
        console.print(comparison_table(results, workload))
        for r in results:
            console.print(runtime_line(r))
        console.print(baseline_table(results, workload))
        for r in results:
            if r.changes:
                worst = sorted(r.changes, key=lambda c: -(c.cost_db or 0.0))[:5]
                console.print(legalization_table(
                    worst, title=f"{r.profile.name}: {len(r.changes)} legalization changes (the costliest shown)"))

    _emit(args, workload, results, targets, tables)
    return 0


def _cmd_sweep(args) -> int:
    from accelsim.results.io import atomic_write, resolve_output_dir, resolve_output_file
    from accelsim.sweep import load_sweep, run_sweep, write_tables

    spec = load_sweep(args.file)
    out = Path(args.out) if args.out else Path("reports") / f"sweep-{_safe_component(spec.name)}"
    resolve_output_dir(out, field="--out")
    for name in ("sweep.parquet", "sweep.csv"):
        resolve_output_file(out / name, field="--out")
    html = resolve_output_file(args.html, field="--html") if args.html else None
    cache = None if args.no_cache else (args.cache or str(out / "cache"))
    from accelsim.sweep.cache import check_cache_dir
    from accelsim.sweep.scheduler import scheduler_address

    check_cache_dir(cache)
    if args.scheduler is not None:
        scheduler_address(args.scheduler)
    total = (len(spec.points) if spec.sample != "optimize" else spec.count) * len(spec.workloads)
    counts = {"done": 0, "failed": 0, "cached": 0}
    with _progress(total) as advance:
        def progress(rows):
            for r in rows:
                counts["done"] += 1
                counts["failed"] += r.get("source") in ("invalid", "failed")
                counts["cached"] += r.get("source") == "cached"
                advance(f"points {counts['done']}/{total}, failed {counts['failed']}, cached {counts['cached']}")
        result = run_sweep(spec, cache=cache, scheduler=args.scheduler, workers=args.workers, progress=progress)
    parquet, csv = write_tables(result.frame, out)
    if html is not None:
        from accelsim.report.sweep_html import render_sweep_report

        atomic_write(html, render_sweep_report(result, command=_command_line(args)))
    from accelsim.report.terminal import sweep_table

    console = _console()
    console.print(sweep_table(result))
    c = result.counts
    console.print(f"{len(result.frame)} rows ({c.get('run', 0)} with numerics, {c.get('timing', 0)} timing only, "
                  f"{c.get('cached', 0)} cached, {c.get('invalid', 0)} invalid, {c.get('failed', 0)} failed) in "
                  f"{result.wall_s:.1f} s; written: {parquet}, {csv}" + (f", {html}" if html else ""))
    rejected = {k: v for k, v in result.cache_counts.items() if k.split("+")[0] in ("damaged", "foreign", "stale")}
    unwritable = sum(v for k, v in result.cache_counts.items() if k.endswith("+unwritable"))
    if rejected:
        console.print(f"cache {cache}: entries rejected and recomputed: "
                      + ", ".join(f"{v} {k.split('+')[0]}" for k, v in sorted(rejected.items())))
    if unwritable:
        console.print(f"cache {cache}: {unwritable} entries could not be written (the cache is read-only, or "
                      f"something else is in their place)")
    for _, r in result.frame[~result.frame["valid"]].head(5).iterrows():
        console.print(f"point {r['point']}: {r['error']}")
    return 0


def _cmd_serve(args) -> int:
    import json

    from accelsim.hardware import load_profile
    from accelsim.results.io import atomic_write, resolve_output_file
    from accelsim.serve import ServeConfig, deploy, max_rate, parse_length, poisson_requests, simulate, trace_requests

    weights, kvs = args.weights or ["fp16"], args.kv or ["fp16"]
    if len(weights) != len(kvs) and 1 not in (len(weights), len(kvs)):
        raise InputError(f"{len(weights)} --weights and {len(kvs)} --kv: give one of each per deployment (or one "
                         f"of either for all)", field="--kv")
    n = max(len(weights), len(kvs))
    pairs = [(weights[i if len(weights) > 1 else 0], kvs[i if len(kvs) > 1 else 0]) for i in range(n)]
    if args.max_throughput is not None:
        return _serve_max_throughput(args, pairs)
    if (args.rate is None) == (args.trace is None):
        raise InputError("give the arrivals: --rate R (Poisson), --trace CSV or --max-throughput N", field="--rate")
    if args.slo_ttft is not None and args.trace is not None:
        raise InputError("--slo-ttft searches Poisson rates: it needs --rate, not --trace", field="--slo-ttft")
    html = resolve_output_file(args.html, field="--html") if args.html else None
    profile = _sustained(load_profile(args.hw), args)
    prompt = parse_length(args.prompt_dist, "--prompt-dist", "prompt_tokens")
    output = parse_length(args.output_dist, "--output-dist", "output_tokens")
    requests = trace_requests(args.trace) if args.trace else poisson_requests(args.rate, args.duration, prompt, output,
                                                                             seed=args.seed)
    duration = args.duration if not args.trace else max(r.arrival_s for r in requests)
    runtime = _runtime(args, profile)
    for w, _ in pairs:
        _check_weights(profile, w)
    sched = runtime.scheduler
    config = ServeConfig(batch_policy=args.batch_policy or ("static" if sched.batching == "static" else "continuous"),
                         prefill=args.prefill or sched.prefill, max_batch=args.max_batch or sched.max_batch,
                         chunk_tokens=args.chunk_tokens or sched.max_num_tokens,
                         max_batch_tokens=sched.max_num_tokens, admission=sched.admission)
    deployments = [(w, kv, deploy(profile, _llm_config(args.model, w, kv), tp=args.tp, runtime=runtime,
                                  memory_fraction=args.memory_fraction)) for w, kv in pairs]
    summaries, results = [], []
    with _progress(len(deployments)) as advance:
        for w, kv, dep in deployments:
            from accelsim.serve import IterationCosts

            costs = IterationCosts(dep)
            advance.show(f"{w}/{kv}: serving")
            result = simulate(dep, requests, config, duration_s=duration, drain=args.drain, costs=costs,
                              progress=lambda text: advance.show(f"{w}/{kv}: {text}"))
            s = {"model": dep.cfg.name, "profile": profile.name, "runtime": runtime.name, "weights": w, "kv_cache": kv,
                 "rate_per_s": args.rate, **result.summary()}
            if runtime.name != "ideal":  # the same traffic at the datasheet bound
                import dataclasses

                from accelsim.runtime import IDEAL

                bound_dep = deploy(profile, _llm_config(args.model, w, kv), tp=args.tp,
                                   runtime=dataclasses.replace(IDEAL, scheduler=runtime.scheduler),
                                   memory_fraction=args.memory_fraction)
                b = simulate(bound_dep, requests, config, duration_s=duration, drain=args.drain,
                             progress=lambda text: advance.show(f"{w}/{kv} at the ideal bound: {text}")).summary()
                s["ideal"] = {k: b[k] for k in ("throughput_tokens_per_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
                                                "tpot_p99_s")}
            if args.slo_ttft is not None:
                s["max_rate"] = max_rate(dep, prompt, output, args.slo_ttft, min(args.duration, 120.0), config,
                                         seed=args.seed, costs=costs,
                                         progress=lambda text: advance.show(f"{w}/{kv}: {text}"))
                s["max_rate"]["slo_ttft_s"] = args.slo_ttft
            summaries.append(s)
            results.append((f"{w} weights / {kv} KV", result))
            advance(f"{w}/{kv}")
    if html is not None:
        from accelsim.report.serve_html import render_serve_report

        atomic_write(html, render_serve_report(results, title=f"accelsim serve {args.model} on {profile.name}",
                                               command=_command_line(args)))
    if args.format == "json":
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2, default=float))
        return 0
    from accelsim.report.terminal import serve_table

    console = _console()
    console.print(serve_table(summaries, args))
    for s in summaries:
        for note in s["notes"]:
            console.print(f"note ({s['weights']}/{s['kv_cache']}): {note}")
    if html is not None:
        console.print(f"written: {html}")
    return 0


def _serve_max_throughput(args, pairs) -> int:
    """accelsim serve --max-throughput N: the benchmark of trtllm-bench throughput (accelsim.serve.max_throughput)
    for each deployment, beside the same run at the datasheet bound."""
    import dataclasses
    import json

    from accelsim.hardware import load_profile
    from accelsim.runtime import IDEAL
    from accelsim.serve import parse_length
    from accelsim.serve.cost import deploy
    from accelsim.serve.max_throughput import max_throughput

    for flag in ("rate", "trace", "slo_ttft", "html"):
        if getattr(args, flag) is not None:
            raise InputError(f"--max-throughput queues its requests at t = 0: it takes no --{flag.replace('_', '-')}",
                             field="--max-throughput")
    lengths = []
    for text, flag, column in ((args.prompt_dist, "--prompt-dist", "prompt_tokens"),
                               (args.output_dist, "--output-dist", "output_tokens")):
        dist = parse_length(text, flag, column)
        if dist.kind != "fixed":
            raise InputError(f"--max-throughput runs requests of one length: give fixed:N (got '{text}')", field=flag)
        lengths.append(dist.values[0])
    isl, osl = lengths
    profile = _sustained(load_profile(args.hw), args)
    for w, _ in pairs:
        _check_weights(profile, w)
    runtime = _runtime(args, profile)
    summaries = []
    with _progress(2 * len(pairs)) as advance:
        for w, kv in pairs:
            cfg = _llm_config(args.model, w, kv)
            s = {"model": cfg.name, "profile": profile.name, "runtime": runtime.name, "weights": w, "kv_cache": kv,
                 "tp": args.tp, "requests": args.max_throughput, "prompt_tokens": isl, "output_tokens": osl}
            runs = {}
            bound = dataclasses.replace(IDEAL, scheduler=runtime.scheduler)  # the kernels ideal, the same scheduler
            for rt in (runtime,) if runtime.name == "ideal" else (runtime, bound):
                dep = deploy(profile, cfg, tp=args.tp, runtime=rt, memory_fraction=args.memory_fraction)
                r = max_throughput(dep, isl, osl, args.max_throughput,
                                   progress=lambda text: advance.show(f"{w}/{kv} {rt.name}: {text}"))
                runs[rt.name] = dict(r, kv_capacity_tokens=dep.kv_capacity_tokens,
                                     throughput_tokens_per_s_per_device=r["throughput_tokens_per_s"] / args.tp)
                advance(f"{w}/{kv} {rt.name}")
            s.update(runs[runtime.name])
            s["ideal"] = {k: runs["ideal"][k] for k in ("throughput_tokens_per_s", "throughput_tokens_per_s_per_device",
                                                         "makespan_s")}
            summaries.append(s)
    if args.format == "json":
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2, default=float))
        return 0
    from rich.table import Table

    t = Table(title=f"{summaries[0]['model']} on {profile.name} x{args.tp} under runtime {runtime.name}: max "
                    f"throughput, {args.max_throughput:,} requests of {isl} / {osl} tokens queued at t = 0",
              title_justify="left", header_style="bold")
    for col in ("weights / KV", "KV capacity", "concurrency", "max batch / tokens", "output tokens/s",
                "per device", "ideal bound"):
        t.add_column(col, justify="left" if col == "weights / KV" else "right")
    for s in summaries:
        t.add_row(f"{s['weights']} / {s['kv_cache']}", f"{s['kv_capacity_tokens']:,} tok", f"{s['concurrency']:,}",
                  f"{s['max_batch']:,} / {s['max_num_tokens']:,}", f"{s['throughput_tokens_per_s']:,.0f}",
                  f"{s['throughput_tokens_per_s_per_device']:,.0f}", f"{s['ideal']['throughput_tokens_per_s']:,.0f}")
    _console().print(t)
    return 0


def _cmd_tune(args) -> int:
    import json

    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload
    from accelsim.results.io import atomic_write, resolve_output_dir, resolve_output_file
    from accelsim.tune import DEFAULT_TRIALS, tune

    workload = load_workload(args.workload)
    profile = load_profile(args.hw)
    out = Path(args.out) if args.out else (Path("reports") / _safe_component(workload.name)
                                           / _safe_component(profile.name) / "recipe.yaml")
    if not out.name.endswith((".yaml", ".yml")):
        raise InputError("the recipe is written as YAML: give a path ending in .yaml", source=str(out), field="--out")
    resolve_output_dir(out.parent, field="--out")
    recipe_path = resolve_output_file(out, field="--out")
    search_path = resolve_output_file(out.with_name(out.stem + ".tune.json"), field="--out")
    trials = args.trials or DEFAULT_TRIALS
    with _progress(trials) as advance:
        result = tune(workload, profile, trials=trials, runtime=_runtime(args, profile),
                      progress=lambda done, total, text: advance.at(done, total, f"trial {done}/{total}: {text}"))
    header = (f"# accelsim tune {workload.name} --hw {profile.name}: {result.summary_text}; evaluation records: "
              f"{result.evaluation['naive']:.6f} naive -> {result.evaluation['tuned']:.6f}\n")
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(recipe_path, header + result.best.recipe.dump())
    atomic_write(search_path, json.dumps(result.as_dict(), indent=2, default=float))
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, default=float))
        return 0
    from accelsim.report.terminal import tune_tables

    console = _console()
    for table in tune_tables(result):
        console.print(table)
    console.print(f"written: {recipe_path} (replay: accelsim run {args.workload} --hw {args.hw} --recipe "
                  f"{recipe_path}), {search_path}")
    return 0


class _progress:
    """A transient progress bar on stderr when it is a terminal; silent otherwise. Entered, it is callable:
    ``bar(text)`` completes a step; ``bar.show(text)`` says what the current step is doing (a long serving run,
    a max-rate probe); ``bar.at(done, total, text)`` sets the count (tune's trials)."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True, console=_console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("simulating", total=self.total)
        return self

    # each update is drawn at once (the callers update a few times a second at most): a step shorter than rich's
    # refresh period would otherwise never be seen
    def __call__(self, description: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=description, refresh=True)

    def show(self, description: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=description, refresh=True)

    def at(self, done: int, total: int, description: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, description=description, refresh=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


if __name__ == "__main__":
    sys.exit(main())
