"""Test and demo helpers that stand in for outside services (no network access needed)."""
