"""Fleet views: per-user backfill health (`backfill/`), failure statistics over rollup tables (`stats/`),
admin bulk re-tests (`bulk/`); `kinds` says whose key it is, for all three."""
