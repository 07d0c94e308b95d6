"""Forecourt assignment: every prospect gets exactly one consultant, who must act on it."""
