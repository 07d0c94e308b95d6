"""assignment's pure domain: consultants, routing rules, the choice of one, the prospect.

No I/O and no clock: callers pass `now` from the injected clock.
"""
