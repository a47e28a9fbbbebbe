"""PyTorch formats for make_fixtures.py: TorchScript (script and trace) and weights-only checkpoints.

Each exporter takes (ctx, write, log) -- the fixture Context, make_fixtures' atomic writer and
logger -- and returns (entry, extra) for meta.json, after verifying what it wrote against the
torch eager reference. Checkpoint entries carry "arch" (the architecture to load them into) and
"checkpoint": "<variant>".

Files, per model folder:
    model.torchscript.pt (+ .json sidecar)   torch.jit.script, format "torchscript"
    model.trace.pt (+ .json sidecar)         torch.jit.trace,  format "torchscript_trace"
    weights.safetensors                      safetensors (written by hand, no dependency)
    state_dict.pth                           torch.save(model.state_dict())  (an OrderedDict)
    checkpoint_state_dict.pth                torch.save({"state_dict": sd, "epoch": 3})
    checkpoint_model.pth                     torch.save({"model": sd})
    dataparallel.pth                         torch.save(state dict with "module." prefixes)

The sidecar (<model file without extension>.json) describes inputs and outputs, which
TorchScript does not record: {"inputs": [{"name", "dtype", "dims"}], "outputs": [...]}, a dim
being a number or a symbolic name.
"""

from __future__ import annotations

import collections
import io
import json
import struct
from typing import Any, Callable

import numpy as np

TOLERANCE = 1e-4  # max abs diff to the eager reference


class ExportError(Exception):
    """A PyTorch fixture failed verification."""


Write = Callable[[Any, bytes], None]
Log = Callable[[str, str], None]


def _check(name: str, what: str, got: np.ndarray, reference: np.ndarray) -> float:
    if got.shape != reference.shape or got.dtype != np.float32:
        raise ExportError(f"{name}: {what} output is {got.dtype}{list(got.shape)}, expected float32{list(reference.shape)}")
    diff = float(np.abs(got.astype(np.float64) - reference).max())
    if not diff <= TOLERANCE:
        raise ExportError(f"{name}: {what} vs eager max abs diff {diff:.3g} exceeds {TOLERANCE:g}")
    return diff


def _sidecar(ctx: Any) -> bytes:
    batch_dims = ["batch", *ctx.spec.input_shape[1:]]
    doc = {
        "inputs": [{"name": "input", "dtype": "f32", "dims": batch_dims}],
        "outputs": [{"name": "logits", "dtype": "f32", "dims": ["batch", ctx.spec.num_outputs]}],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def _torchscript(ctx: Any, write: Write, log: Log, how: str, file: str) -> tuple[dict, dict]:
    import torch

    name = ctx.spec.name
    log(name, f"exporting TorchScript ({how}) ...")
    x = torch.from_numpy(ctx.input)
    with torch.no_grad():
        module = torch.jit.script(ctx.model) if how == "script" else torch.jit.trace(ctx.model, (x,))
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    data = buf.getvalue()
    loaded = torch.jit.load(io.BytesIO(data)).eval()
    with torch.inference_mode():
        got = loaded(x).numpy()
        one = loaded(x[:1]).numpy()  # the batch dimension stays dynamic
    diff = max(_check(name, f"TorchScript {how}", got, ctx.reference), _check(name, f"{how} batch 1", one, ctx.reference[:1]))
    log(name, f"TorchScript {how} matches eager: max abs diff {diff:.3g}")
    write(ctx.model_dir / file, data)
    sidecar = file.rsplit(".", 1)[0] + ".json"
    write(ctx.model_dir / sidecar, _sidecar(ctx))
    entry = {"file": file, "reference": ctx.reference_file, "sidecar": sidecar, "input_name": "input", "output_name": "logits"}
    return entry, {f"max_abs_diff_torchscript_{how}_vs_torch": diff}


def export_torchscript(ctx: Any, write: Write, log: Log) -> tuple[dict, dict]:
    return _torchscript(ctx, write, log, "script", "model.torchscript.pt")


def export_torchscript_trace(ctx: Any, write: Write, log: Log) -> tuple[dict, dict]:
    return _torchscript(ctx, write, log, "trace", "model.trace.pt")


_SAFETENSORS_DTYPES = {"torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16", "torch.float64": "F64", "torch.int64": "I64", "torch.int32": "I32", "torch.uint8": "U8", "torch.int8": "I8", "torch.bool": "BOOL"}


def safetensors_bytes(state: dict[str, Any]) -> bytes:
    """The safetensors format: u64 LE header length, JSON header (padded to 8 bytes), raw LE data."""
    header: dict[str, Any] = {}
    chunks = []
    offset = 0
    for key, tensor in state.items():
        raw = tensor.detach().contiguous().cpu().numpy().tobytes()
        header[key] = {"dtype": _SAFETENSORS_DTYPES[str(tensor.dtype)], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _read_safetensors(data: bytes) -> dict[str, Any]:
    import torch

    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    inverse = {v: getattr(torch, k.split(".")[1]) for k, v in _SAFETENSORS_DTYPES.items()}
    body = data[8 + n :]
    out = {}
    for key, info in header.items():
        start, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=inverse[info["dtype"]]) if end > start else torch.empty(0, dtype=inverse[info["dtype"]])
        out[key] = flat.reshape(info["shape"])
    return out


def _torch_save(obj: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _checkpoint(variant: str, file: str, make: Callable[[Any, collections.OrderedDict], bytes], unwrap: Callable[[bytes], dict]) -> Callable[[Any, Write, Log], tuple[dict, dict]]:
    def export(ctx: Any, write: Write, log: Log) -> tuple[dict, dict]:
        import torch

        name = ctx.spec.name
        log(name, f"writing checkpoint {file} ({variant}) ...")
        sd = ctx.model.state_dict()
        data = make(ctx, sd)
        # Verify: load into a fresh architecture (strictly: every key, every shape) and run.
        fresh = ctx.spec.build().float().eval()
        fresh.load_state_dict(unwrap(data), strict=True)
        with torch.inference_mode():
            got = fresh(torch.from_numpy(ctx.input)).numpy()
        diff = _check(name, f"checkpoint {file}", got, ctx.reference)
        log(name, f"{file} loads strictly into a fresh {name} and matches eager: max abs diff {diff:.3g}")
        write(ctx.model_dir / file, data)
        entry = {"file": file, "reference": ctx.reference_file, "arch": name, "checkpoint": variant}
        return entry, {}

    return export


def _load(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _strip(sd: dict) -> dict:
    return collections.OrderedDict((k.removeprefix("module."), v) for k, v in sd.items())


def _dataparallel(ctx: Any, sd: dict) -> bytes:
    out = collections.OrderedDict((f"module.{k}", v) for k, v in sd.items())
    if not all(k.startswith("module.") for k in out):
        raise ExportError("dataparallel keys lack the module. prefix")
    return _torch_save(out)


# (format name, exporter); appended to make_fixtures.FORMATS in this order.
FORMATS: list[tuple[str, Callable[[Any, Write, Log], tuple[dict, dict]]]] = [
    ("torchscript", export_torchscript),
    ("torchscript_trace", export_torchscript_trace),
    ("safetensors", _checkpoint("safetensors", "weights.safetensors", lambda ctx, sd: safetensors_bytes(sd), _read_safetensors)),
    ("state_dict", _checkpoint("state_dict", "state_dict.pth", lambda ctx, sd: _torch_save(sd), _load)),
    (
        "checkpoint_state_dict",
        _checkpoint("state_dict_in_dict", "checkpoint_state_dict.pth", lambda ctx, sd: _torch_save({"state_dict": sd, "epoch": 3}), lambda d: _load(d)["state_dict"]),
    ),
    ("checkpoint_model", _checkpoint("model_in_dict", "checkpoint_model.pth", lambda ctx, sd: _torch_save({"model": sd}), lambda d: _load(d)["model"])),
    ("dataparallel", _checkpoint("dataparallel", "dataparallel.pth", _dataparallel, lambda d: _strip(_load(d)))),
]
