"""Forecourt recovery: lost leads and prospects followed up until won back or dead."""
