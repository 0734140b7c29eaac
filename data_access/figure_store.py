"""Computed figures kept on disk beside the analytical copy, so a page that asks again after a
restart, from another process, or for a view computed ahead (indicators.cube) reads them
instead of computing them.

A stored long form is keyed by everything its figures depend on: the copy it was computed
from (a new copy is a new file, so a refresh makes every older entry unreachable), the as-of
date, the period, the level, the settings' parameters and the linkage pairs not dismissed.
Files are Parquet, written under a temporary name and renamed, so a reader never sees half a
file; the entries of copies no longer current are removed with them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

FOLDER = "figures"


def pairs_fingerprint(pairs: pd.DataFrame | None) -> str:
    """A short hash of the linkage pairs a computation counted (``none`` before any run)."""
    if pairs is None:
        return "none"
    text = "\n".join(sorted(f"{a}\t{b}" for a, b in zip(pairs["person_id_a"], pairs["person_id_b"],
                                                           strict=True)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def figure_key(copy_file: str, *, as_of: Any, period_start: Any, level: int,
               parameters: Mapping[str, Any], pairs: str) -> str:
    """The name of the stored long form of these inputs."""
    text = json.dumps({"copy": copy_file, "as_of": str(as_of), "period_start": str(period_start),
                       "level": int(level), "parameters": dict(parameters), "pairs": pairs},
                      sort_keys=True, default=str)
    return f"{Path(copy_file).stem}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


class FigureStore:
    """The stored long forms of one copy folder."""

    def __init__(self, copy_folder: Path) -> None:
        self.folder = copy_folder / FOLDER

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def load(self, key: str) -> pd.DataFrame | None:
        path = self._path(key)
        try:
            frame = pd.read_parquet(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # a damaged file is computed again, not shown
            log.warning("ignoring the stored figures %s: %s", path, exc)
            return None
        return _long_form_types(frame)

    def save(self, key: str, frame: pd.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{key}.{os.getpid()}.tmp"
        frame.to_parquet(temporary, index=False)
        os.replace(temporary, self._path(key))

    def forget_other_copies(self, keep: set[str]) -> None:
        """Remove the entries of copies whose file stems are not in ``keep``."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.parquet"):
            if not any(path.name.startswith(f"{stem}-") for stem in keep):
                path.unlink(missing_ok=True)


def _long_form_types(frame: pd.DataFrame) -> pd.DataFrame:
    """The engine's dtypes again (Parquet keeps Int64/Float64; text and dates as objects)."""
    for column in ("level", "numerator", "denominator"):
        frame[column] = frame[column].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    for column in frame.columns:
        if column not in ("level", "numerator", "denominator", "value"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
