"""Bulk re-tests (admin): the cohort and its batch bookkeeping, the thread scheduler, worker processes."""
