"""recovery's pure domain: cadences, the choice of channel, the recovery run of one loss.

No I/O and no clock: callers pass `now` from the injected clock.
"""
