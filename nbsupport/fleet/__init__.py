"""Fleet analytics: backfill health, failure statistics over rollup tables, bulk re-tests."""
