"""Exports of the indicators: the Excel workbook (``python -m exports``). Never imports Streamlit."""

from exports.workbook import (
    SHEETS,
    UnknownLevelError,
    build_workbook,
    export_registry,
    public_source,
    write_workbook,
)

__all__ = [
    "SHEETS", "UnknownLevelError", "build_workbook", "export_registry", "public_source",
    "write_workbook",
]
