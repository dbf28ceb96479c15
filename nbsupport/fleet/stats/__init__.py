"""Failure statistics: the rollup tables, the figures read from them, incident detection, chart frames."""
