"""Backtests: past rounds through the same engine, parameter grids, reports."""
