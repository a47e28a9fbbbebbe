"""What make_fixtures.py and its format exporters (export_tf.py) share: the error a fixture
fails with, a format's result, and atomic file writing. A module of its own so that the exporters
do not import the script that imports them."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import numpy as np


class FixtureError(Exception):
    """A fixture could not be generated or failed verification."""


@dataclasses.dataclass
class FormatResult:
    """What exporting one format gives: its `meta.json` entry and the fields merged into meta."""

    entry: dict[str, Any]  # meta["formats"][<name>]
    extra: dict[str, Any]  # merged into meta


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to `path` via `path.tmp` + os.replace, fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
