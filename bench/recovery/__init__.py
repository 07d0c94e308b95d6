"""Recovery: a million scheduled follow-ups, 100,000 due at once, the scanner timed."""
