"""Backtests: past rounds through the same engine, parameter grids, reports."""

SUMMARY_FILE = "summary.json"
"""A backtest report's machine-readable summary, beside its index.html (here, so readers of reports need not
import the report writer and its plotting)."""
