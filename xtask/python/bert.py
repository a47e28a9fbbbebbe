"""The `bert` fixture for make_fixtures.py: a small BERT-like encoder in plain torch, its Keras port.

`TorchBert` follows Hugging Face's `BertModel` (post-LayerNorm encoder, learned absolute position
embeddings, exact-erf GELU, tanh pooler over the first token; parameter names as in
`transformers`), without depending on `transformers`: 4 layers, hidden 256, 4 heads, the full
30522-token vocabulary, 2 token types, 512 positions. Weights are random from a fixed seed (no
download). `keras_bert` builds a Keras 3 functional model from built-in layers only (Embedding,
MultiHeadAttention, Dense, LayerNormalization and keras.ops), copies every weight, and so computes
the same function: it is what the SavedModel and model.keras are written from.

Inputs, in this order everywhere: `input_ids`, `attention_mask`, `token_type_ids`, int64
`[batch, sequence]`, both dimensions dynamic (ONNX dim_params `batch` and `sequence`).
Outputs, named identically in every format: `last_hidden_state` float32 `[batch, sequence, 256]`
and `pooler_output` float32 `[batch, 256]`.

Files written into DIR/bert/ (besides meta.json, see make_fixtures.py):

    input.npz                    the reference input: the three inputs by name, int64 [2, 128];
                                 row 0 is 128 real tokens, row 1 is 96 then 32 padding (ids 0,
                                 mask 0); [CLS] ... [SEP], other ids uniform in [1000, 30522) with
                                 30521 once; type ids 0 then 1 over the real tokens
    input_ids.npy, attention_mask.npy, token_type_ids.npy   the same, one file per input
    reference_torch.npz          PyTorch eager's outputs on input.npz, by name
    reference_torch.last_hidden_state.npy, reference_torch.pooler_output.npy   the same, one file each
    model.onnx                   torch.onnx.export (opset 17, dynamo=False)
    model.torchscript.pt (+ .json sidecar)   torch.jit.script, forward(input_ids, attention_mask,
                                 token_type_ids) -> (last_hidden_state, pooler_output)
    model.trace.pt (+ .json sidecar)         torch.jit.trace of the same
    saved_model/                 the Keras port, Keras 3 model.export() (signature serving_default)
    model.keras                  the Keras port, model.save()

Every format is checked against PyTorch eager before it is written: on the reference input and on
two other shapes (batch 1 x sequence 64, batch 3 x sequence 37), max abs diff <= 1e-4 on both
outputs, or generation fails.
"""

import dataclasses
import io
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Tuple

import numpy as np
import torch
from torch import Tensor, nn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("last_hidden_state", "pooler_output")
TOLERANCE = 1e-4  # max abs diff of every format to torch eager, on every output
REFERENCE_SHAPE = (2, 128)  # batch x sequence of the reference input
# Further (batch, sequence) shapes every format is checked on: both dimensions are dynamic.
CHECK_SHAPES = ((1, 64), (3, 37))
# Weights ~ N(0, WEIGHT_STD): BERT's initializer range (0.02) makes attention almost uniform;
# a larger spread makes the attention pattern, and so the attention mask, matter.
WEIGHT_STD = 0.05
CLS, SEP, PAD = 101, 102, 0  # BERT's special token ids in the uncased vocabulary


@dataclasses.dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"  # exact (erf) GELU

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads


CONFIG = BertConfig()


class BertError(Exception):
    """The bert fixture failed verification."""


# --------------------------------------------------------------------------------------------
# The torch model
# --------------------------------------------------------------------------------------------


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).unsqueeze(0), persistent=False)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        position_ids = self.position_ids[:, : input_ids.size(1)]
        x = self.word_embeddings(input_ids) + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.hidden_size = config.hidden_size
        self.scale = 1.0 / math.sqrt(config.head_size)
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def heads(self, x: Tensor) -> Tensor:  # [b, s, hidden] -> [b, heads, s, head_size]
        return x.view(x.size(0), -1, self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, hidden: Tensor, mask_bias: Tensor) -> Tensor:
        q, k, v = self.heads(self.query(hidden)), self.heads(self.key(hidden)), self.heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + mask_bias
        context = torch.matmul(torch.softmax(scores, dim=-1), v)  # [b, heads, s, head_size]
        return context.transpose(1, 2).reshape(hidden.size(0), -1, self.hidden_size)


class DenseNorm(nn.Module):
    """BertSelfOutput / BertOutput: dense, residual, LayerNorm."""

    def __init__(self, config: BertConfig, inputs: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(config)
        self.output = DenseNorm(config, config.hidden_size)

    def forward(self, hidden: Tensor, mask_bias: Tensor) -> Tensor:
        return self.output(self.self(hidden, mask_bias), hidden)


class Intermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = DenseNorm(config, config.intermediate_size)

    def forward(self, hidden: Tensor, mask_bias: Tensor) -> Tensor:
        attended = self.attention(hidden, mask_bias)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden: Tensor, mask_bias: Tensor) -> Tensor:
        for layer in self.layer:
            hidden = layer(hidden, mask_bias)
        return hidden


class Pooler(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class TorchBert(nn.Module):
    """BertModel without `transformers`: (input_ids, attention_mask, token_type_ids) ->
    (last_hidden_state, pooler_output)."""

    def __init__(self, config: BertConfig = CONFIG) -> None:
        super().__init__()
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tuple[Tensor, Tensor]:
        hidden = self.embeddings(input_ids, token_type_ids)
        # [b, s] -> [b, 1, 1, s]: 0 where attended, -10000 at padding (as BERT does).
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * -10000.0
        hidden = self.encoder(hidden, mask_bias)
        return hidden, self.pooler(hidden)


def build_torch(seed: int, config: BertConfig = CONFIG) -> Any:
    """The torch model with random weights from `seed`, in eval mode."""

    torch.manual_seed(seed)
    model = TorchBert(config).float()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:  # LayerNorm: non-trivial scale and shift
                if name.endswith("weight"):
                    p.uniform_(0.8, 1.2, generator=generator)
                else:
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * WEIGHT_STD)
    return model.eval()


def make_input(rng: np.random.Generator, batch: int, sequence: int, config: BertConfig = CONFIG) -> dict[str, np.ndarray]:
    """Token ids in range, [CLS] ... [SEP] then padding; the first row has no padding, the others
    end with padding of growing length; type ids 0 then 1 over the real tokens, 0 at padding."""
    ids = np.full((batch, sequence), PAD, dtype=np.int64)
    mask = np.zeros((batch, sequence), dtype=np.int64)
    types = np.zeros((batch, sequence), dtype=np.int64)
    for row in range(batch):
        length = max(2, sequence - row * (sequence // 4))
        ids[row, :length] = rng.integers(1000, config.vocab_size, size=length)
        ids[row, 0], ids[row, length - 1] = CLS, SEP
        mask[row, :length] = 1
        types[row, length // 2 : length] = 1
    ids[0, 1] = config.vocab_size - 1  # the largest id: the whole table is reachable
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def torch_outputs(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:

    with torch.inference_mode():
        outs = model(*(torch.from_numpy(inputs[n]) for n in INPUT_NAMES))
    return {n: o.numpy().copy() for n, o in zip(OUTPUT_NAMES, outs)}


# --------------------------------------------------------------------------------------------
# The Keras port
# --------------------------------------------------------------------------------------------


def keras_bert(model: Any, config: BertConfig = CONFIG) -> Any:
    """The Keras 3 functional twin of `model` (built-in layers only), with its weights."""
    import keras
    from keras import layers, ops

    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    h, heads, size = config.hidden_size, config.num_attention_heads, config.head_size
    pending: list[tuple[Any, list[np.ndarray]]] = []  # (layer, weights), set once built

    def apply(layer: Any, weights: list[np.ndarray], *args: Any, **kwargs: Any) -> Any:
        out = layer(*args, **kwargs)
        pending.append((layer, weights))
        return out

    def dense(x: Any, prefix: str, name: str, activation: str | None = None) -> Any:
        w, b = sd[f"{prefix}.weight"], sd[f"{prefix}.bias"]
        return apply(layers.Dense(w.shape[0], activation=activation, name=name), [w.T, b], x)

    def norm(x: Any, prefix: str, name: str) -> Any:
        layer = layers.LayerNormalization(epsilon=config.layer_norm_eps, name=name)
        return apply(layer, [sd[f"{prefix}.weight"], sd[f"{prefix}.bias"]], x)

    inputs = {n: keras.Input(shape=(None,), dtype="int64", name=n) for n in INPUT_NAMES}
    ids, mask, types = (inputs[n] for n in INPUT_NAMES)
    positions = ops.cumsum(ops.ones_like(ids), axis=1) - 1  # 0, 1, ... along the sequence

    def embedding(x: Any, key: str) -> Any:
        table = sd[f"embeddings.{key}.weight"]
        return apply(layers.Embedding(table.shape[0], table.shape[1], name=key), [table], x)

    x = layers.Add(name="embeddings_sum")([embedding(ids, "word_embeddings"), embedding(positions, "position_embeddings"), embedding(types, "token_type_embeddings")])
    x = norm(x, "embeddings.LayerNorm", "embeddings_norm")
    # [b, s] -> [b, s (queries), s (keys)]: True where a key is attended.
    attended = ops.cast(mask, "bool")
    attention_mask = ops.logical_and(ops.expand_dims(attended, 1), ops.expand_dims(ops.ones_like(attended), 2))
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}"
        mha = layers.MultiHeadAttention(heads, size, name=f"layer_{i}_attention")
        # torch Linear [out, in] with out = head * size + j -> EinsumDense kernels [in, heads, size],
        # and the output projection [hidden, heads * size] -> [heads, size, hidden].
        weights = []
        for part in ("query", "key", "value"):
            weights += [sd[f"{p}.attention.self.{part}.weight"].T.reshape(h, heads, size), sd[f"{p}.attention.self.{part}.bias"].reshape(heads, size)]
        weights += [sd[f"{p}.attention.output.dense.weight"].T.reshape(heads, size, h), sd[f"{p}.attention.output.dense.bias"]]
        a = apply(mha, weights, x, x, attention_mask=attention_mask)
        x = norm(layers.Add(name=f"layer_{i}_attention_residual")([a, x]), f"{p}.attention.output.LayerNorm", f"layer_{i}_attention_norm")
        y = dense(x, f"{p}.intermediate.dense", f"layer_{i}_intermediate", activation="gelu")
        y = dense(y, f"{p}.output.dense", f"layer_{i}_output")
        x = norm(layers.Add(name=f"layer_{i}_output_residual")([y, x]), f"{p}.output.LayerNorm", f"layer_{i}_output_norm")
    pooled = dense(x[:, 0], "pooler.dense", "pooler", activation="tanh")
    keras_model = keras.Model(inputs, {"last_hidden_state": x, "pooler_output": pooled}, name="bert")
    for layer, weights in pending:
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [w.shape for w in weights]:
            raise BertError(f"Keras layer {layer.name}: weights {expected}, port has {[w.shape for w in weights]}")
        layer.set_weights(weights)
    # The approximate=False GELU is what torch's default is; make sure Keras's "gelu" is too.
    probe = np.linspace(-3, 3, 7, dtype=np.float32)
    exact = 0.5 * probe * (1 + np.vectorize(math.erf)(probe / math.sqrt(2)))
    if float(np.abs(np.asarray(keras.activations.get("gelu")(probe)) - exact).max()) > 1e-6:
        raise BertError("Keras's gelu is not the exact (erf) GELU")
    return keras_model


# --------------------------------------------------------------------------------------------
# Checks and files
# --------------------------------------------------------------------------------------------


def max_diff(name: str, what: str, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
    """Max abs diff over every output; raises BertError on a shape, dtype or tolerance failure."""
    worst = 0.0
    for out in OUTPUT_NAMES:
        g, e = np.asarray(got[out]), expected[out]
        if g.shape != e.shape or g.dtype != np.float32:
            raise BertError(f"{name}: {what}: output {out} is {g.dtype}{list(g.shape)}, expected float32{list(e.shape)}")
        d = float(np.abs(g.astype(np.float64) - e).max())
        if not d <= TOLERANCE:
            raise BertError(f"{name}: {what} vs torch: output {out} max abs diff {d:.3g} exceeds {TOLERANCE:g}")
        worst = max(worst, d)
    return worst


def check_reference(name: str, model: Any, inputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """The reference must be sane, and must depend on every input, the mask included."""
    for out, value in reference.items():
        if not np.all(np.isfinite(value)):
            raise BertError(f"{name}: {out} has non-finite values")
        if float(value.std()) < 1e-2 or float(np.abs(value).max()) > 1e2:
            raise BertError(f"{name}: {out} is degenerate (std {value.std():.3g}, max {np.abs(value).max():.3g})")
    real = inputs["attention_mask"].astype(bool)
    for changed in INPUT_NAMES:
        other = dict(inputs)
        if changed == "attention_mask":
            other[changed] = np.ones_like(inputs[changed])
        elif changed == "token_type_ids":
            other[changed] = 1 - inputs[changed]
        else:
            other[changed] = np.where(real, (inputs[changed] + 1) % CONFIG.vocab_size, inputs[changed])
        d = float(np.abs(torch_outputs(model, other)["last_hidden_state"] - reference["last_hidden_state"])[real].max())
        if d < 1e-2:
            raise BertError(f"{name}: changing {changed} moves the output by only {d:.3g}")


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def sidecar(config: BertConfig = CONFIG) -> bytes:
    doc = {
        "inputs": [{"name": n, "dtype": "i64", "dims": ["batch", "sequence"]} for n in INPUT_NAMES],
        "outputs": [
            {"name": "last_hidden_state", "dtype": "f32", "dims": ["batch", "sequence", config.hidden_size]},
            {"name": "pooler_output", "dtype": "f32", "dims": ["batch", config.hidden_size]},
        ],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


@dataclasses.dataclass
class Ctx:
    name: str
    model: Any
    model_dir: Path
    checks: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]  # (input, torch output); [0] is the reference
    write: Callable[[Path, bytes], None]
    log: Callable[[str, str], None]


def export_onnx(ctx: Ctx, opset: int) -> tuple[dict, dict]:
    import onnx
    import onnxruntime as ort

    ctx.log(ctx.name, f"exporting ONNX (opset {opset}) ...")
    dims = {0: "batch", 1: "sequence"}
    buf = io.BytesIO()
    example = tuple(torch.from_numpy(ctx.checks[0][0][n]) for n in INPUT_NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, and says so
        torch.onnx.export(
            ctx.model,
            example,
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={**{n: dims for n in INPUT_NAMES}, "last_hidden_state": dims, "pooler_output": {0: "batch"}},
            do_constant_folding=True,
        )
    data = buf.getvalue()
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    inputs = [(i.name, i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in proto.graph.input]
    expected = [(n, onnx.TensorProto.INT64, ["batch", "sequence"]) for n in INPUT_NAMES]
    if inputs != expected:
        raise BertError(f"{ctx.name}: ONNX inputs are {inputs}, expected {expected}")
    outputs = [o.name for o in proto.graph.output]
    if outputs != list(OUTPUT_NAMES):
        raise BertError(f"{ctx.name}: ONNX outputs are {outputs}")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = 0.0
    for x, expected_out in ctx.checks:
        got = dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), x)))
        diff = max(diff, max_diff(ctx.name, f"onnxruntime at {list(x['input_ids'].shape)}", got, expected_out))
    ctx.log(ctx.name, f"onnxruntime matches torch: max abs diff {diff:.3g} ({len(ctx.checks)} shapes)")
    ctx.write(ctx.model_dir / "model.onnx", data)
    return {"file": "model.onnx"}, {"max_abs_diff_onnxruntime_vs_torch": diff}


def export_torchscript(ctx: Ctx, how: str, file: str) -> tuple[dict, dict]:

    ctx.log(ctx.name, f"exporting TorchScript ({how}) ...")
    example = tuple(torch.from_numpy(ctx.checks[0][0][n]) for n in INPUT_NAMES)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about Python values
        module = torch.jit.script(ctx.model) if how == "script" else torch.jit.trace(ctx.model, example)
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    data = buf.getvalue()
    loaded = torch.jit.load(io.BytesIO(data)).eval()
    names = [a.name for a in loaded.forward.schema.arguments[1:]]
    if names != list(INPUT_NAMES):
        raise BertError(f"{ctx.name}: TorchScript ({how}) forward takes {names}, expected {list(INPUT_NAMES)}")
    diff = 0.0
    for x, expected_out in ctx.checks:
        with torch.inference_mode():
            outs = loaded(*(torch.from_numpy(x[n]) for n in INPUT_NAMES))
        got = {n: o.numpy() for n, o in zip(OUTPUT_NAMES, outs)}
        diff = max(diff, max_diff(ctx.name, f"TorchScript {how} at {list(x['input_ids'].shape)}", got, expected_out))
    ctx.log(ctx.name, f"TorchScript {how} matches eager: max abs diff {diff:.3g} ({len(ctx.checks)} shapes)")
    ctx.write(ctx.model_dir / file, data)
    side = file.rsplit(".", 1)[0] + ".json"
    ctx.write(ctx.model_dir / side, sidecar())
    return {"file": file, "sidecar": side}, {f"max_abs_diff_torchscript_{how}_vs_torch": diff}


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def export_tf(ctx: Ctx) -> tuple[dict[str, dict], dict]:
    """The SavedModel and model.keras, both from one Keras port."""
    import keras
    import tensorflow as tf

    ctx.log(ctx.name, "porting the torch weights to a Keras functional model ...")
    keras_model = keras_bert(ctx.model)
    diff = 0.0
    for x, expected_out in ctx.checks:
        got = {k: np.asarray(v) for k, v in keras_model(x, training=False).items()}
        diff = max(diff, max_diff(ctx.name, f"Keras port at {list(x['input_ids'].shape)}", got, expected_out))
    ctx.log(ctx.name, f"Keras port matches torch: max abs diff {diff:.3g} ({len(ctx.checks)} shapes)")

    ctx.log(ctx.name, "exporting the SavedModel (Keras model.export) ...")
    tmp = ctx.model_dir / "saved_model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    keras_model.export(str(tmp), format="tf_saved_model", verbose=False)
    fn = tf.saved_model.load(str(tmp)).signatures["serving_default"]
    _, spec = fn.structured_input_signature
    got_inputs = sorted((k, v.dtype.name, list(v.shape)) for k, v in spec.items())
    want_inputs = sorted((n, "int64", [None, None]) for n in INPUT_NAMES)
    if got_inputs != want_inputs or sorted(fn.structured_outputs) != sorted(OUTPUT_NAMES):
        raise BertError(f"{ctx.name}: SavedModel signature is {got_inputs} -> {sorted(fn.structured_outputs)}")
    sm_diff = 0.0
    for x, expected_out in ctx.checks:
        got = {k: v.numpy() for k, v in fn(**{n: tf.constant(x[n]) for n in INPUT_NAMES}).items()}
        sm_diff = max(sm_diff, max_diff(ctx.name, f"SavedModel at {list(x['input_ids'].shape)}", got, expected_out))
    ctx.log(ctx.name, f"SavedModel matches torch: max abs diff {sm_diff:.3g} ({len(ctx.checks)} shapes)")
    _replace_dir(tmp, ctx.model_dir / "saved_model")

    ctx.log(ctx.name, "saving model.keras ...")
    tmp_keras = ctx.model_dir / "model.tmp.keras"  # Keras insists on the .keras suffix
    keras_model.save(str(tmp_keras))
    reloaded = keras.saving.load_model(str(tmp_keras), compile=False, safe_mode=True)
    x, expected_out = ctx.checks[0]
    got = {k: np.asarray(v) for k, v in reloaded(x, training=False).items()}
    keras_diff = max_diff(ctx.name, "reloaded model.keras", got, expected_out)
    ctx.log(ctx.name, f"model.keras matches torch: max abs diff {keras_diff:.3g}")
    os.replace(tmp_keras, ctx.model_dir / "model.keras")

    entries = {"savedmodel": {"file": "saved_model"}, "keras": {"file": "model.keras"}}
    extra = {
        "max_abs_diff_keras_port_vs_torch": diff,
        "max_abs_diff_savedmodel_vs_torch": sm_diff,
        "max_abs_diff_keras_vs_torch": keras_diff,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    return entries, extra


def generate(name: str, seed: int, model_dir: Path, opset: int, write: Callable[[Path, bytes], None], npy: Callable[[np.ndarray], bytes], log: Callable[[str, str], None], without_tf: str | None = None) -> dict[str, Any]:
    """Writes every file of the fixture except meta.json; returns meta.json's model-specific part.

    `without_tf`: why the TensorFlow formats cannot be written here (no TensorFlow), or None;
    with a reason they are skipped, and the caller records them as unavailable.
    """
    log(name, f"building the encoder (seed {seed}, random weights) ...")
    model = build_torch(seed)
    n_params = sum(p.numel() for p in model.parameters())
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    rng = np.random.default_rng(seed)
    reference_input = make_input(rng, *REFERENCE_SHAPE)
    checks = [(reference_input, torch_outputs(model, reference_input))]
    for shape in CHECK_SHAPES:
        x = make_input(rng, *shape)
        checks.append((x, torch_outputs(model, x)))
    reference = checks[0][1]
    check_reference(name, model, reference_input, reference)

    log(name, f"writing the reference input {list(REFERENCE_SHAPE)} and PyTorch's outputs ...")
    write(model_dir / "input.npz", npz_bytes(reference_input))
    for n in INPUT_NAMES:
        write(model_dir / f"{n}.npy", npy(reference_input[n]))
    write(model_dir / "reference_torch.npz", npz_bytes(reference))
    for n in OUTPUT_NAMES:
        write(model_dir / f"reference_torch.{n}.npy", npy(reference[n]))

    ctx = Ctx(name, model, model_dir, checks, write, log)
    formats: dict[str, dict] = {}
    extra: dict[str, Any] = {}
    for fmt, export in (
        ("onnx", lambda: export_onnx(ctx, opset)),
        ("torchscript", lambda: export_torchscript(ctx, "script", "model.torchscript.pt")),
        ("torchscript_trace", lambda: export_torchscript(ctx, "trace", "model.trace.pt")),
    ):
        entry, more = export()
        formats[fmt] = entry
        extra.update(more)
    if without_tf is None:
        tf_entries, more = export_tf(ctx)
        formats.update(tf_entries)
        extra.update(more)
    else:
        log(name, f"TensorFlow formats skipped: {without_tf}")
    common = {"reference": "reference_torch.npz", "input_names": list(INPUT_NAMES), "output_names": list(OUTPUT_NAMES)}
    formats = {fmt: {**entry, **common} for fmt, entry in formats.items()}

    config = CONFIG
    ranges = {"input_ids": [0, config.vocab_size], "attention_mask": [0, 2], "token_type_ids": [0, config.type_vocab_size]}
    return {
        "config": dataclasses.asdict(config),
        "input": {"file": "input.npz", "names": list(INPUT_NAMES), "shape": list(REFERENCE_SHAPE), "dtype": "i64"},
        "inputs": [
            {"name": n, "dtype": "i64", "dims": ["batch", "sequence"], "shape": list(REFERENCE_SHAPE), "file": f"{n}.npy", "range": ranges[n]}
            for n in INPUT_NAMES
        ],
        "outputs": [
            {"name": "last_hidden_state", "dtype": "f32", "dims": ["batch", "sequence", config.hidden_size], "file": "reference_torch.last_hidden_state.npy"},
            {"name": "pooler_output", "dtype": "f32", "dims": ["batch", config.hidden_size], "file": "reference_torch.pooler_output.npy"},
        ],
        "dims": {"sequence": REFERENCE_SHAPE[1]},
        "formats": formats,
        "parameters": n_params,
        "parameter_bytes": n_bytes,
        **extra,
    }
