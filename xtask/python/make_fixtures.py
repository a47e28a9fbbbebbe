#!/usr/bin/env python3
"""Generate benchmark fixtures for `infer`: real-sized models with random weights.

Usage:
    make_fixtures.py [--out DIR] [--models resnet18,resnet50,mobilenet_v2,bert] [--force]

Models: the image classifiers resnet18, resnet50 and mobilenet_v2 (torchvision, random weights),
and bert, a small BERT-like encoder written in plain torch (bert.py; three int64 inputs, two
outputs, dynamic batch and sequence). For every image model this writes, into DIR/<model>/:

    input.npy             float32 [2,3,224,224], standard normal from a fixed-seed numpy RNG
    reference_torch.npy   float32 [2,1000], PyTorch eager output on input.npy (inference_mode)
    model.onnx            opset 17, input "input" / output "logits", batch dimension "batch"
    saved_model/          the same weights ported to Keras (NHWC), Keras 3 model.export()
    model.keras           that Keras model, model.save()
    input_nhwc.npy        input.npy transposed to NHWC, the input of the two above
    model.torchscript.pt, model.trace.pt, weights.safetensors, *.pth
                          PyTorch formats, see export_torch.py
    meta.json             description of the above; written last, so a directory that has a
                          meta.json is complete

mobilenet_v2 has every format above except the weights-only checkpoints (`unavailable`, below).
bert's files are listed in bert.py.

meta.json (every model):

    model, generator_version, seed, *_version   what wrote it
    input                 {"file": the reference input, ...}; an image model's is input.npy with
                          "name", "shape", "dtype"; bert's is input.npz (every input by name) with
                          "names", "shape", "dtype"
    formats               {format: {"file", "reference", ...}}: "file" is the model file or folder,
                          "reference" PyTorch eager's output on this format's input (.npy; .npz by
                          output name for a model with several outputs), "input" this format's own
                          input when it is not meta["input"]["file"] (input_nhwc.npy for the
                          TensorFlow formats of image models), "input_name"/"output_name" (one
                          input and output) or "input_names"/"output_names" (several, in the
                          model's order), "sidecar" (TorchScript), "arch"/"checkpoint" (checkpoints)
    unavailable           {format: reason}: formats of the usual set that this model does not
                          have, keyed like "formats", each with a one-line reason to show where
                          that format's row would be (`infer compare` reads "onnx", "torchscript"
                          and "savedmodel" for its onnx, torch and tf rows); absent when every
                          format is there (the ResNets). Where this Python has no TensorFlow (the
                          GPU machine's), "savedmodel" and "keras" are listed here with the reason
                          and every other format is written; tiny_keras/ is not written then
    max_abs_diff_*_vs_torch   what the verification of each format measured (<= 1e-4)
    parameters, parameter_bytes

and, for a model with several inputs or symbolic dimensions (bert):

    inputs                [{"name", "dtype", "dims" (numbers or symbols), "shape" (of the reference
                          input), "file" (.npy of that input alone), "range": [lo, hi) of valid
                          values (integer inputs)}], in the model's order
    outputs               [{"name", "dtype", "dims", "file" (.npy of the reference output)}]
    dims                  {symbol: size}: the size of each symbolic dimension other than the batch
                          for synthetic inputs ({"sequence": 128}, the reference input's)
    config                the architecture's hyper-parameters

Weights are random (no download). bert: see bert.build_torch. Image models:
torch.manual_seed(<per-model seed>), then every BatchNorm
gets random affine parameters and running statistics that are calibrated on random data and
then perturbed, so that BatchNorm is not an identity, and the classifier head is rescaled so
that logits are O(1) (see `randomize_batchnorm` and `rescale_head`).

Every file is written atomically (NAME.tmp, then os.replace). A model whose meta.json records
the same generator version, torch and torchvision versions is skipped unless --force is given.

Adding a format: write an `export_<format>(ctx) -> FormatResult` function and append it to
FORMATS; its `entry` goes to meta["formats"][<format>] and its `extra` is merged into meta.
An entry may name its own "input" file (default: meta["input"]["file"]).

Also writes DIR/tiny_keras/, a small Keras model for unit tests (export_tf.generate_tiny).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import io
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

import export_tf  # TensorFlow formats; imports TensorFlow only when used
from fixture_io import FixtureError, FormatResult, npy_bytes, write_atomic

# Bump whenever the content of generated fixtures changes (weights, input, export options,
# meta.json schema): existing fixture directories are then regenerated. Each model has its own
# (ModelSpec.version), so that a change to one model does not regenerate the others; this is the
# ResNets'.
GENERATOR_VERSION = 3

ONNX_OPSET = 17
BATCH = 2
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
ONNX_TOLERANCE = 1e-4  # max abs diff, onnxruntime vs torch eager
# The classifier head is rescaled so that logits on the calibration batch have this std.
TARGET_LOGIT_STD = 2.0
CALIBRATION_BATCH = 8

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "fixtures" / "generated"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


# The weights-only checkpoint formats (export_torch.py): infer loads them only into an
# architecture it has built in (--arch), which only the ResNets have.
CHECKPOINT_FORMATS = ("safetensors", "state_dict", "checkpoint_state_dict", "checkpoint_model", "dataparallel")
NO_ARCH = "not written: a weights-only checkpoint needs an architecture built into infer (--arch knows resnet18 and resnet50)"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    seed: int
    build: Callable[[], Any]  # returns a torch.nn.Module with random weights (untouched)
    input_shape: tuple[int, ...] = (BATCH, 3, 224, 224)
    num_outputs: int = 1000
    version: int = GENERATOR_VERSION  # meta["generator_version"]
    # Formats of FORMATS not written, with the reason recorded in meta["unavailable"].
    unavailable: tuple[tuple[str, str], ...] = ()
    kind: str = "image"  # "image": the FORMATS pipeline below; "bert": bert.py


def _torchvision(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision

        return getattr(torchvision.models, name)(weights=None)

    return build


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("resnet18", seed=18, build=_torchvision("resnet18")),
        ModelSpec("resnet50", seed=50, build=_torchvision("resnet50")),
        ModelSpec(
            "mobilenet_v2",
            seed=2,
            build=_torchvision("mobilenet_v2"),
            version=1,
            unavailable=tuple((fmt, NO_ARCH) for fmt in CHECKPOINT_FORMATS),
        ),
        ModelSpec(
            "bert",
            seed=12,
            build=lambda: __import__("bert").TorchBert(),
            version=1,
            unavailable=tuple((fmt, NO_ARCH) for fmt in CHECKPOINT_FORMATS),
            kind="bert",
        ),
    ]
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def log(model: str, message: str) -> None:
    print(f"{model}: {message}", file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    """The library versions recorded in meta.json (imports them all)."""
    import onnx
    import onnxruntime
    import torch
    import torchvision

    return {
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": onnxruntime.__version__,
    }


def _version_without_import(package: str) -> str | None:
    """`package.__version__` read from its version.py, without the seconds-long import.

    torch and torchvision write `__version__ = '2.11.0+cu130'` there; the distribution metadata
    lacks the local label (+cu130), so it cannot stand in. None if the file is not as expected.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        try:
            text = (Path(location) / "version.py").read_text()
        except OSError:
            continue
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        if match:
            return match.group(1)
    return None


def quick_versions() -> dict[str, str | None]:
    """The versions the up-to-date check compares, cheaply. A wrong guess only means that a
    model is regenerated (meta.json always records the imported versions)."""
    return {
        "torch_version": _version_without_import("torch"),
        "torchvision_version": _version_without_import("torchvision"),
    }


def is_up_to_date(model_dir: Path, spec: ModelSpec, current: dict[str, str | None]) -> bool:
    meta_path = model_dir / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    # Written where TensorFlow was missing, and TensorFlow is here now: write its formats too.
    skipped = meta.get("unavailable", {})
    if export_tf.missing() is None and any(str(skipped.get(f, "")).startswith(export_tf.NO_TENSORFLOW) for f in TF_FORMATS):
        return False
    if meta.get("model") != spec.name or meta.get("generator_version") != spec.version:
        return False
    for key in ("torch_version", "torchvision_version"):
        if current[key] is None or meta.get(key) != current[key]:
            return False
    files = [meta.get("input", {}).get("file")]
    for entry in meta.get("formats", {}).values():
        files += [entry.get("file"), entry.get("reference"), entry.get("input", files[0])]
        if "sidecar" in entry:
            files.append(entry.get("sidecar"))
    # A SavedModel is a folder.
    return all(isinstance(f, str) and (model_dir / f).exists() for f in files)


# --------------------------------------------------------------------------------------------
# Building the model
# --------------------------------------------------------------------------------------------


def randomize_batchnorm(model: Any, generator: Any, input_shape: tuple[int, ...]) -> int:
    """Gives every BatchNorm random, non-identity parameters with sane statistics.

    weight ~ U(0.5, 1.5) and bias ~ 0.1 * N(0, 1); the running statistics are first measured on
    a random calibration batch (train-mode forward, cumulative average) and then perturbed:
    running_var *= U(0.5, 1.5), running_mean += 0.1 * N(0, 1) * sqrt(running_var). Purely
    random statistics (var ~ U(0.5, 1.5), mean ~ 0.1 * N) make activations grow with depth:
    ResNet-50 logits reach ~1e3, where float32 rounding alone exceeds the 1e-4 tolerance.
    Returns the number of BatchNorm layers.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            n = bn.num_features
            bn.weight.uniform_(0.5, 1.5, generator=generator)
            bn.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average over the calibration pass
        model.train()
        calib = torch.randn((CALIBRATION_BATCH, *input_shape[1:]), generator=generator)
        model(calib)
        for bn in bns:
            n = bn.num_features
            bn.running_var.mul_(torch.empty(n).uniform_(0.5, 1.5, generator=generator))
            bn.running_mean.add_(torch.randn(n, generator=generator) * 0.1 * bn.running_var.sqrt())
            bn.momentum = 0.1
            bn.num_batches_tracked.zero_()
    model.eval()
    return len(bns)


def rescale_head(model: Any, generator: Any, input_shape: tuple[int, ...]) -> float:
    """Scales the last nn.Linear so that logits on a random batch have std TARGET_LOGIT_STD."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        return 1.0
    head = linears[-1]
    with torch.inference_mode():
        logits = model(torch.randn((CALIBRATION_BATCH, *input_shape[1:]), generator=generator))
    std = float(logits.std())
    if not math.isfinite(std) or std <= 0:
        raise FixtureError(f"logits on the calibration batch are degenerate (std {std})")
    scale = TARGET_LOGIT_STD / std
    with torch.no_grad():
        head.weight.mul_(scale)
        if head.bias is not None:
            head.bias.mul_(scale)
    return scale


def build_model(spec: ModelSpec) -> Any:
    import torch

    torch.manual_seed(spec.seed)
    model = spec.build().float()
    generator = torch.Generator().manual_seed(spec.seed)
    n_bn = randomize_batchnorm(model, generator, spec.input_shape)
    scale = rescale_head(model, generator, spec.input_shape)
    log(spec.name, f"randomized {n_bn} BatchNorm layers, head scaled by {scale:.4g}")
    return model.eval()


def check_logits(name: str, logits: np.ndarray, expected_shape: tuple[int, ...]) -> None:
    if logits.shape != expected_shape or logits.dtype != np.float32:
        raise FixtureError(f"{name}: output is {logits.dtype}{list(logits.shape)}, expected float32{list(expected_shape)}")
    if not np.all(np.isfinite(logits)):
        raise FixtureError(f"{name}: output has non-finite values")
    if float(logits.max() - logits.min()) < 1e-3:
        raise FixtureError(f"{name}: output is (nearly) constant")
    if float(np.abs(logits).max()) > 1e3:
        raise FixtureError(f"{name}: output magnitude {np.abs(logits).max():.3g} is not sane")
    if logits.shape[0] > 1 and float(np.abs(logits[0] - logits[1]).max()) < 1e-4:
        raise FixtureError(f"{name}: output does not depend on the input")


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    spec: ModelSpec
    model: Any  # torch.nn.Module, eval mode
    model_dir: Path
    input: np.ndarray
    reference: np.ndarray  # torch eager output on `input`
    reference_file: str


def export_onnx(ctx: Context) -> FormatResult:
    import onnx
    import onnxruntime as ort
    import torch

    name = ctx.spec.name
    log(name, f"exporting ONNX (opset {ONNX_OPSET}) ...")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, and says so
        torch.onnx.export(
            ctx.model,
            (torch.from_numpy(ctx.input),),
            buf,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    data = buf.getvalue()

    log(name, "checking the ONNX graph ...")
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    opsets = {o.domain: o.version for o in proto.opset_import}
    if opsets.get("", opsets.get("ai.onnx")) != ONNX_OPSET:
        raise FixtureError(f"{name}: exported opset imports are {opsets}, expected {ONNX_OPSET}")
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise FixtureError(f"{name}: ONNX graph has inputs {inputs} and outputs {outputs}")
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dim0 = value.type.tensor_type.shape.dim[0]
        if dim0.dim_param != "batch":
            raise FixtureError(f"{name}: dim 0 of {value.name!r} is not the symbolic 'batch' ({dim0})")

    log(name, "verifying ONNX with onnxruntime (CPUExecutionProvider) ...")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        (out,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return np.asarray(out)

    got = run(ctx.input)
    if got.shape != ctx.reference.shape or got.dtype != np.float32:
        raise FixtureError(f"{name}: onnxruntime output is {got.dtype}{list(got.shape)}, expected float32{list(ctx.reference.shape)}")
    diff = float(np.abs(got.astype(np.float64) - ctx.reference).max())
    if not diff <= ONNX_TOLERANCE:
        raise FixtureError(f"{name}: onnxruntime vs torch max abs diff {diff:.3g} exceeds {ONNX_TOLERANCE:g}")
    # The batch dimension must really be dynamic: batch 1 and batch 3 (samples 0, 1, 0).
    # Samples are independent in eval mode, so rows must match the batch-2 reference.
    for idx in ([0], [0, 1, 0]):
        out = run(np.ascontiguousarray(ctx.input[idx]))
        expected = ctx.reference[idx]
        if out.shape != expected.shape:
            raise FixtureError(f"{name}: batch {len(idx)} gave output shape {list(out.shape)}, expected {list(expected.shape)}")
        d = float(np.abs(out.astype(np.float64) - expected).max())
        if not d <= ONNX_TOLERANCE:
            raise FixtureError(f"{name}: batch {len(idx)}: onnxruntime vs torch max abs diff {d:.3g} exceeds {ONNX_TOLERANCE:g}")
        diff = max(diff, d)
    log(name, f"onnxruntime matches torch: max abs diff {diff:.3g} (batches 2, 1, 3)")

    write_atomic(ctx.model_dir / "model.onnx", data)
    return FormatResult(
        entry={
            "file": "model.onnx",
            "reference": ctx.reference_file,
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
        },
        extra={"max_abs_diff_onnxruntime_vs_torch": diff},
    )


def _torch_format(export: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> Callable[[Context], FormatResult]:
    """Adapts an exporter of export_torch.py (which does not import this script)."""
    import export_torch

    def run(ctx: Context) -> FormatResult:
        try:
            entry, extra = export(ctx, write_atomic, log)
        except export_torch.ExportError as e:
            raise FixtureError(str(e)) from e
        return FormatResult(entry=entry, extra=extra)

    return run


sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_torch  # noqa: E402  (next to this script)

# The formats export_tf.py writes, which need TensorFlow (skipped where it is missing).
TF_FORMATS = ("savedmodel", "keras")

# (format name, exporter); meta["formats"] keeps this order.
FORMATS: list[tuple[str, Callable[[Context], FormatResult]]] = [
    ("onnx", export_onnx),
    *[(name, _torch_format(export)) for name, export in export_torch.FORMATS],
    ("savedmodel", export_tf.export_savedmodel),
    ("keras", export_tf.export_keras),
]


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def generate(spec: ModelSpec, out: Path, force: bool) -> None:
    name = spec.name
    model_dir = out / name
    if not force and is_up_to_date(model_dir, spec, quick_versions()):
        log(name, "up to date")
        return
    start = time.perf_counter()
    import torch

    current = versions()
    model_dir.mkdir(parents=True, exist_ok=True)
    # The directory is incomplete from now on until the new meta.json is written.
    (model_dir / "meta.json").unlink(missing_ok=True)

    if spec.kind == "bert":
        _generate_bert(spec, model_dir, current, start)
        return

    log(name, f"building model (seed {spec.seed}, random weights) ...")
    model = build_model(spec)
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    n_bytes = sum(p.numel() * p.element_size() for p in params)

    log(name, f"writing input.npy {list(spec.input_shape)} ...")
    x = np.random.default_rng(spec.seed).standard_normal(spec.input_shape, dtype=np.float32)
    write_atomic(model_dir / "input.npy", npy_bytes(x))

    log(name, "running torch eager reference ...")
    with torch.inference_mode():
        reference = model(torch.from_numpy(x)).numpy().copy()
    check_logits(name, reference, (spec.input_shape[0], spec.num_outputs))
    write_atomic(model_dir / "reference_torch.npy", npy_bytes(reference))

    ctx = Context(spec, model, model_dir, x, reference, "reference_torch.npy")
    formats: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    skipped = dict(spec.unavailable)
    without_tf = export_tf.missing()
    if without_tf is not None:
        log(name, f"TensorFlow formats skipped: {without_tf}")
        for fmt in TF_FORMATS:
            skipped.setdefault(fmt, without_tf)
    for fmt, export in FORMATS:
        if fmt in skipped:
            continue
        result = export(ctx)
        formats[fmt] = result.entry
        extra.update(result.extra)

    meta: dict[str, Any] = {
        "model": name,
        "generator_version": spec.version,
        "seed": spec.seed,
        **current,
        "onnx_opset": ONNX_OPSET,
        "input": {
            "name": INPUT_NAME,
            "shape": list(spec.input_shape),
            "dtype": "f32",
            "file": "input.npy",
        },
        "formats": formats,
        **({"unavailable": skipped} if skipped else {}),
        "parameters": n_params,
        "parameter_bytes": n_bytes,
        **extra,
    }
    write_atomic(model_dir / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    log(name, f"done in {time.perf_counter() - start:.1f} s ({n_params} parameters)")


def _generate_bert(spec: ModelSpec, model_dir: Path, current: dict[str, str], start: float) -> None:
    """The bert fixture (bert.py writes its files; meta.json is written here, last)."""
    import bert

    without_tf = export_tf.missing()
    try:
        described = bert.generate(spec.name, spec.seed, model_dir, ONNX_OPSET, write_atomic, npy_bytes, log, without_tf)
    except bert.BertError as e:
        raise FixtureError(str(e)) from e
    unavailable = dict(spec.unavailable)
    if without_tf is not None:
        unavailable.update({fmt: without_tf for fmt in TF_FORMATS})
    meta: dict[str, Any] = {
        "model": spec.name,
        "generator_version": spec.version,
        "seed": spec.seed,
        **current,
        "onnx_opset": ONNX_OPSET,
        **described,
        "unavailable": unavailable,
    }
    write_atomic(model_dir / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    log(spec.name, f"done in {time.perf_counter() - start:.1f} s ({meta['parameters']} parameters)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated model names (default: all of {', '.join(MODELS)})",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        print("make_fixtures: error: --models is empty", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(
            f"make_fixtures: error: unknown model(s): {', '.join(unknown)} (known: {', '.join(MODELS)})",
            file=sys.stderr,
        )
        return 2
    names = list(dict.fromkeys(names))  # drop duplicates, keep order

    args.out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    for name in names:
        try:
            generate(MODELS[name], args.out, args.force)
        except FixtureError as e:
            print(f"make_fixtures: error: {e}", file=sys.stderr)
            return 1
    try:
        export_tf.generate_tiny(args.out, args.force)
    except FixtureError as e:
            print(f"make_fixtures: error: {e}", file=sys.stderr)
            return 1
    print(f"make_fixtures: {len(names)} model(s) in {time.perf_counter() - total:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
