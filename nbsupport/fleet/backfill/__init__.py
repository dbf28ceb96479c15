"""Backfill health: flagged fill-history backfills, their causes and fixes, and the one-request probe that
confirms a finding."""
