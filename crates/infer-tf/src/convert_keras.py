"""Converts a Keras model file (.keras or .h5) to a TensorFlow SavedModel for infer.

Usage: python convert_keras.py SOURCE OUT_DIR

Loads SOURCE with `keras.saving.load_model(..., compile=False, safe_mode=True)`, so a file that
would run arbitrary code when loaded (a Lambda layer, a pickled function) is refused, and
writes OUT_DIR with Keras 3's `model.export()` (a SavedModel with a `serving_default`
signature that the TensorFlow C API can run; `tf.saved_model.save` on a Keras 3 model is not).

On failure the last line on stderr is `INFER_ERROR <kind>: <message>`, where kind is `load`,
`unsafe` (refused by safe mode) or `export`; the exit code is 2.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fail(kind: str, error: BaseException) -> None:
    message = " ".join(f"{type(error).__name__}: {error}".split())
    print(f"INFER_ERROR {kind}: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def main() -> None:
    if len(sys.argv) != 3:
        print("usage: convert_keras.py SOURCE OUT_DIR", file=sys.stderr)
        sys.exit(64)
    source, out = sys.argv[1], sys.argv[2]
    try:
        import keras
        import tensorflow as tf
    except Exception as e:  # noqa: BLE001 - reported to the caller as text
        fail("load", e)
    try:
        model = keras.saving.load_model(source, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001
        text = str(e)
        fail("unsafe" if "safe_mode" in text or "safe mode" in text else "load", e)
    try:
        model.export(out, format="tf_saved_model", verbose=False)
    except Exception as e:  # noqa: BLE001
        fail("export", e)
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}", flush=True)


if __name__ == "__main__":
    main()
