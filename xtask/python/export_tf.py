"""TensorFlow fixtures for `infer`: torchvision ResNets and MobileNetV2 ported weight for weight to Keras.

`keras_mobilenet_v2(torch_model)` does the same for MobileNetV2 (depthwise convolutions, ReLU6,
inverted residuals); `keras_port` picks the one that fits. `keras_resnet(torch_model)` builds a Keras 3 functional model (NHWC) that mirrors torchvision's
ResNet-18/50 layer by layer and copies every weight, so the SavedModel and .keras fixtures compute
the same function as the ONNX and TorchScript ones and are compared to the same PyTorch reference:

- Conv2d -> ZeroPadding2D(padding) + Conv2D(valid, use_bias=False), OIHW weights -> HWIO;
- BatchNorm2d -> BatchNormalization(epsilon=1e-5) with gamma, beta, running mean and variance;
- MaxPool2d(3, 2, padding=1) -> ZeroPadding2D(1) + MaxPooling2D(3, 2): it follows a ReLU, so
  zero padding equals PyTorch's -inf padding;
- Bottleneck v1.5: the stride is on the 3x3 convolution; downsample = 1x1 conv + BN;
- AdaptiveAvgPool2d(1) + flatten -> GlobalAveragePooling2D; Linear -> Dense (weight transposed).

Formats written (entries of make_fixtures.FORMATS):
    saved_model/      Keras 3 `model.export()` (signature serving_default, input "input" NHWC)
    model.keras       `model.save()`
    input_nhwc.npy    the fixture input transposed to NHWC (their meta entry's "input")

`generate_tiny(out)` writes `tiny_keras/`: a small CNN with a second signature, its .keras file,
a .keras file with a Lambda layer (Keras safe mode must refuse it) and reference input/output.

`missing()` says why these formats cannot be written by this Python (no TensorFlow installed, as
on the GPU machine, whose Python has torch but no TensorFlow): the callers then record the formats
as unavailable with that reason and write every other one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fixture_io import FixtureError, FormatResult, npy_bytes, write_atomic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TF_TOLERANCE = 1e-4  # max abs diff, Keras / SavedModel vs torch eager
INPUT_KEY = "input"
NHWC_INPUT_FILE = "input_nhwc.npy"
# Bump when tiny_keras/ changes.
TINY_VERSION = 1


# The start of the reason recorded for the TensorFlow formats when TensorFlow is missing; a fixture
# recorded so is regenerated once TensorFlow is there (make_fixtures.is_up_to_date).
NO_TENSORFLOW = "not written: no TensorFlow for"


def missing() -> str | None:
    """Why the TensorFlow formats cannot be written here, or None when they can.

    INFER_FIXTURES_WITHOUT_TF=1 pretends TensorFlow is missing, so that a machine that has it can
    write the fixtures as the GPU machine does (benchmarks/gpu/run.sh --dry-run).
    """
    if os.environ.get("INFER_FIXTURES_WITHOUT_TF") == "1":
        return f"{NO_TENSORFLOW} this run (INFER_FIXTURES_WITHOUT_TF=1): no SavedModel or .keras file"
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return f"{NO_TENSORFLOW} {sys.executable} (Python {version}): no SavedModel or .keras file"
    return None


def _log(model: str, message: str) -> None:
    print(f"{model}: {message}", file=sys.stderr, flush=True)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Moves the finished folder `tmp` to `final`, replacing an older one."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path


def keras_resnet(torch_model: Any, input_hw: tuple[int, int]) -> Any:
    """The Keras twin of a torchvision ResNet (BasicBlock or Bottleneck), with its weights."""
    import keras
    import torch
    from keras import layers
    from torchvision.models.resnet import BasicBlock, Bottleneck

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float32)

    def conv(x: Any, m: torch.nn.Conv2d, name: str) -> Any:
        assert m.bias is None and m.groups == 1 and m.dilation == (1, 1), name
        if m.padding != (0, 0):
            x = layers.ZeroPadding2D(m.padding, name=f"{name}_pad")(x)
        layer = layers.Conv2D(m.out_channels, m.kernel_size, strides=m.stride, padding="valid", use_bias=False, name=name)
        x = layer(x)
        layer.set_weights([np_(m.weight).transpose(2, 3, 1, 0)])  # OIHW -> HWIO
        return x

    def bn(x: Any, m: torch.nn.BatchNorm2d, name: str) -> Any:
        layer = layers.BatchNormalization(axis=-1, epsilon=m.eps, name=name)
        x = layer(x)
        layer.set_weights([np_(m.weight), np_(m.bias), np_(m.running_mean), np_(m.running_var)])
        return x

    def relu(x: Any, name: str) -> Any:
        return layers.ReLU(name=name)(x)

    inputs = keras.Input(shape=(*input_hw, 3), name=INPUT_KEY)
    x = relu(bn(conv(inputs, torch_model.conv1, "conv1"), torch_model.bn1, "bn1"), "relu1")
    mp = torch_model.maxpool
    x = layers.ZeroPadding2D(mp.padding, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(mp.kernel_size, strides=mp.stride, name="maxpool")(x)
    for li in range(1, 5):
        for bi, block in enumerate(getattr(torch_model, f"layer{li}")):
            p = f"layer{li}_{bi}"
            shortcut = x
            if isinstance(block, BasicBlock):
                y = relu(bn(conv(x, block.conv1, f"{p}_conv1"), block.bn1, f"{p}_bn1"), f"{p}_relu1")
                y = bn(conv(y, block.conv2, f"{p}_conv2"), block.bn2, f"{p}_bn2")
            elif isinstance(block, Bottleneck):
                y = relu(bn(conv(x, block.conv1, f"{p}_conv1"), block.bn1, f"{p}_bn1"), f"{p}_relu1")
                y = relu(bn(conv(y, block.conv2, f"{p}_conv2"), block.bn2, f"{p}_bn2"), f"{p}_relu2")
                y = bn(conv(y, block.conv3, f"{p}_conv3"), block.bn3, f"{p}_bn3")
            else:
                raise TypeError(f"{p}: unsupported block {type(block).__name__}")
            if block.downsample is not None:
                ds_conv, ds_bn = block.downsample[0], block.downsample[1]
                shortcut = bn(conv(x, ds_conv, f"{p}_down_conv"), ds_bn, f"{p}_down_bn")
            x = relu(layers.Add(name=f"{p}_add")([y, shortcut]), f"{p}_out")
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    fc = layers.Dense(torch_model.fc.out_features, name="fc")
    outputs = fc(x)
    fc.set_weights([np_(torch_model.fc.weight).T, np_(torch_model.fc.bias)])
    return keras.Model(inputs, outputs, name=type(torch_model).__name__.lower())


def keras_mobilenet_v2(torch_model: Any, input_hw: tuple[int, int]) -> Any:
    """The Keras twin of a torchvision MobileNetV2, with its weights.

    Walks `features` in order: Conv2d -> ZeroPadding2D + Conv2D (groups 1) or DepthwiseConv2D
    (groups = channels, OIHW [C, 1, kh, kw] -> [kh, kw, C, 1]); BatchNorm2d -> BatchNormalization;
    ReLU6 -> ReLU(max_value=6); an InvertedResidual with use_res_connect adds its input. Then
    GlobalAveragePooling2D and the classifier's Linear (its Dropout is the identity in eval mode).
    """
    import keras
    import torch
    from keras import layers
    from torchvision.models.mobilenetv2 import InvertedResidual

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float32)

    def walk(x: Any, m: torch.nn.Module, name: str) -> Any:
        if isinstance(m, InvertedResidual):
            y = walk(x, m.conv, name)
            return layers.Add(name=f"{name}_add")([x, y]) if m.use_res_connect else y
        if isinstance(m, torch.nn.Sequential):
            for i, child in enumerate(m):
                x = walk(x, child, f"{name}_{i}")
            return x
        if isinstance(m, torch.nn.Conv2d):
            if m.bias is not None or m.dilation != (1, 1):
                raise TypeError(f"{name}: unsupported Conv2d {m}")
            if m.padding != (0, 0):
                x = layers.ZeroPadding2D(m.padding, name=f"{name}_pad")(x)
            w = np_(m.weight)
            if m.groups == 1:
                layer = layers.Conv2D(m.out_channels, m.kernel_size, strides=m.stride, padding="valid", use_bias=False, name=name)
                x = layer(x)
                layer.set_weights([w.transpose(2, 3, 1, 0)])  # OIHW -> HWIO
            elif m.groups == m.in_channels == m.out_channels:
                layer = layers.DepthwiseConv2D(m.kernel_size, strides=m.stride, padding="valid", depth_multiplier=1, use_bias=False, name=name)
                x = layer(x)
                layer.set_weights([w.transpose(2, 3, 0, 1)])  # [C, 1, kh, kw] -> [kh, kw, C, 1]
            else:
                raise TypeError(f"{name}: unsupported grouped Conv2d {m}")
            return x
        if isinstance(m, torch.nn.BatchNorm2d):
            layer = layers.BatchNormalization(axis=-1, epsilon=m.eps, name=name)
            x = layer(x)
            layer.set_weights([np_(m.weight), np_(m.bias), np_(m.running_mean), np_(m.running_var)])
            return x
        if isinstance(m, torch.nn.ReLU6):
            return layers.ReLU(max_value=6.0, name=name)(x)
        raise TypeError(f"{name}: unsupported layer {type(m).__name__}")

    inputs = keras.Input(shape=(*input_hw, 3), name=INPUT_KEY)
    x = walk(inputs, torch_model.features, "features")
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    linear = torch_model.classifier[-1]
    fc = layers.Dense(linear.out_features, name="classifier")
    outputs = fc(x)
    fc.set_weights([np_(linear.weight).T, np_(linear.bias)])
    return keras.Model(inputs, outputs, name="mobilenet_v2")


def keras_port(torch_model: Any, input_hw: tuple[int, int]) -> Any:
    """The Keras twin of a fixture's torchvision model: ResNet or MobileNetV2."""
    from torchvision.models import MobileNetV2, ResNet

    if isinstance(torch_model, ResNet):
        return keras_resnet(torch_model, input_hw)
    if isinstance(torch_model, MobileNetV2):
        return keras_mobilenet_v2(torch_model, input_hw)
    raise TypeError(f"no Keras port of {type(torch_model).__name__}")


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shape {list(a.shape)} != reference {list(b.shape)}")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def _serving_fn(saved_model_dir: Path) -> Any:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model_dir))
    fn = loaded.signatures["serving_default"]
    (out_key,) = fn.structured_outputs.keys()
    return loaded, fn, out_key


class _Built:
    """The Keras twin of one fixture model, built once and shared by both TF formats."""

    cache: dict[int, tuple[Any, np.ndarray]] = {}

    @classmethod
    def get(cls, ctx: Any) -> tuple[Any, np.ndarray]:
        key = id(ctx)
        if key not in cls.cache:
            cls.cache.clear()
            name = ctx.spec.name
            _log(name, "porting the torch weights to a Keras functional model (NHWC) ...")
            x_nhwc = np.ascontiguousarray(ctx.input.transpose(0, 2, 3, 1))
            model = keras_port(ctx.model, ctx.input.shape[2:4])
            got = np.asarray(model(x_nhwc, training=False))
            d = _diff(got, ctx.reference)
            if not d <= TF_TOLERANCE:
                raise FixtureError(f"{name}: Keras port vs torch max abs diff {d:.3g} exceeds {TF_TOLERANCE:g}")
            _log(name, f"Keras port matches torch: max abs diff {d:.3g}")

            write_atomic(ctx.model_dir / NHWC_INPUT_FILE, npy_bytes(x_nhwc))
            cls.cache[key] = (model, x_nhwc)
        return cls.cache[key]


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"tensorflow_version": tf.__version__, "keras_version": keras.__version__}


def export_savedmodel(ctx: Any) -> FormatResult:
    name = ctx.spec.name
    model, x_nhwc = _Built.get(ctx)
    final = ctx.model_dir / "saved_model"
    tmp = _fresh(ctx.model_dir / "saved_model.tmp")
    _log(name, "exporting the SavedModel (Keras model.export) ...")
    model.export(str(tmp), format="tf_saved_model", verbose=False)
    _, fn, out_key = _serving_fn(tmp)
    diff = 0.0
    # Batch 2 (the reference) and batch 1: the batch dimension is dynamic.
    for idx in ([0, 1], [1]):
        got = fn(**{INPUT_KEY: x_nhwc[idx]})[out_key].numpy()
        d = _diff(got, ctx.reference[idx])
        if not d <= TF_TOLERANCE:
            raise FixtureError(f"{name}: SavedModel vs torch max abs diff {d:.3g} exceeds {TF_TOLERANCE:g}")
        diff = max(diff, d)
    _log(name, f"SavedModel matches torch: max abs diff {diff:.3g} (batches 2, 1)")
    _replace_dir(tmp, final)
    return FormatResult(
        entry={
            "file": "saved_model",
            "reference": ctx.reference_file,
            "input": NHWC_INPUT_FILE,
            "input_name": INPUT_KEY,
            "output_name": out_key,
        },
        extra={"max_abs_diff_savedmodel_vs_torch": diff, **_versions()},
    )


def export_keras(ctx: Any) -> FormatResult:
    import keras

    name = ctx.spec.name
    model, x_nhwc = _Built.get(ctx)
    final = ctx.model_dir / "model.keras"
    tmp = ctx.model_dir / "model.tmp.keras"  # Keras insists on the .keras suffix
    _log(name, "saving model.keras ...")
    model.save(str(tmp))
    reloaded = keras.saving.load_model(str(tmp), compile=False, safe_mode=True)
    diff = _diff(np.asarray(reloaded(x_nhwc, training=False)), ctx.reference)
    if not diff <= TF_TOLERANCE:
        raise FixtureError(f"{name}: reloaded .keras vs torch max abs diff {diff:.3g} exceeds {TF_TOLERANCE:g}")
    _log(name, f"model.keras matches torch: max abs diff {diff:.3g}")
    os.replace(tmp, final)
    return FormatResult(
        entry={"file": "model.keras", "reference": ctx.reference_file, "input": NHWC_INPUT_FILE, "input_name": INPUT_KEY},
        extra={"max_abs_diff_keras_vs_torch": diff},
    )


# --------------------------------------------------------------------------------------------
# tiny_keras: a small model for unit tests
# --------------------------------------------------------------------------------------------


def _tiny_model() -> Any:
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inputs = keras.Input(shape=(8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = layers.BatchNormalization(epsilon=1e-5, name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    features = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(5, name="logits")(features)
    model = keras.Model(inputs, logits, name="tiny_keras")
    # Non-trivial BatchNorm statistics.
    rng = np.random.default_rng(7)
    bn = model.get_layer("bn")
    bn.set_weights([
        rng.uniform(0.5, 1.5, 4).astype(np.float32),
        (0.1 * rng.standard_normal(4)).astype(np.float32),
        (0.1 * rng.standard_normal(4)).astype(np.float32),
        rng.uniform(0.5, 1.5, 4).astype(np.float32),
    ])
    return model, keras.Model(inputs, features, name="tiny_features")


def generate_tiny(out: Path, force: bool) -> None:
    """Writes out/tiny_keras/ unless it is up to date."""
    from importlib import metadata

    name = "tiny_keras"
    d = out / name
    meta_path = d / "meta.json"
    reason = missing()
    if reason is not None:
        _log(name, f"skipped: {reason}")
        return
    try:
        installed = metadata.version("tensorflow-cpu")  # without the seconds-long import
    except metadata.PackageNotFoundError:
        installed = None
    try:
        meta = json.loads(meta_path.read_text())
        if not force and meta.get("version") == TINY_VERSION and meta.get("tensorflow_version") == installed:
            _log(name, "up to date")
            return
    except (OSError, ValueError):
        pass

    import keras
    import tensorflow as tf

    start = time.perf_counter()
    d.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    model, features = _tiny_model()
    x = np.random.default_rng(8).standard_normal((3, 8, 8, 3), dtype=np.float32)
    y = np.asarray(model(x, training=False))
    f = np.asarray(features(x, training=False))
    write_atomic(d / "input.npy", npy_bytes(x))
    write_atomic(d / "output.npy", npy_bytes(y))
    write_atomic(d / "features.npy", npy_bytes(f))

    # Two signatures: serving_default (logits) and `features` (pooled features).
    tmp = _fresh(d / "saved_model.tmp")
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = [tf.TensorSpec(shape=(None, 8, 8, 3), dtype=tf.float32, name="image")]
    archive.add_endpoint(name="serving_default", fn=lambda image: model(image, training=False), input_signature=spec)
    archive.add_endpoint(name="features", fn=lambda image: features(image, training=False), input_signature=spec)
    archive.write_out(str(tmp), verbose=False)
    loaded = tf.saved_model.load(str(tmp))
    sigs = sorted(loaded.signatures.keys())
    if sigs != ["features", "serving_default"]:
        raise FixtureError(f"{name}: signatures are {sigs}")
    for key, expected in (("serving_default", y), ("features", f)):
        fn = loaded.signatures[key]
        (out_key,) = fn.structured_outputs.keys()
        diff = _diff(fn(image=x)[out_key].numpy(), expected)
        if not diff <= 1e-6:
            raise FixtureError(f"{name}: SavedModel signature {key} differs from Keras by {diff:.3g}")
    _replace_dir(tmp, d / "saved_model")

    tmp = d / "model.tmp.keras"
    model.save(str(tmp))
    os.replace(tmp, d / "model.keras")

    # A model with a Lambda layer: arbitrary Python that Keras safe mode refuses to load.
    from keras import layers

    inputs = keras.Input(shape=(4,), name="x")
    lam = keras.Model(inputs, layers.Lambda(lambda t: t * 2.0, name="double")(inputs))
    tmp = d / "lambda.tmp.keras"
    lam.save(str(tmp))
    os.replace(tmp, d / "lambda.keras")
    try:
        keras.saving.load_model(str(d / "lambda.keras"), safe_mode=True)
    except ValueError:
        pass
    else:
        raise FixtureError(f"{name}: Keras safe mode loaded lambda.keras, expected a refusal")

    meta = {
        "model": name,
        "version": TINY_VERSION,
        **_versions(),
        "input": {"file": "input.npy", "name": "image", "shape": list(x.shape)},
        "outputs": {"serving_default": "output.npy", "features": "features.npy"},
        "signatures": sigs,
        "files": {"savedmodel": "saved_model", "keras": "model.keras", "unsafe_keras": "lambda.keras"},
    }
    write_atomic(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    _log(name, f"done in {time.perf_counter() - start:.1f} s")
