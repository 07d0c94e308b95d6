"""Intake benchmark: machine ceilings, JSON path, bulk path, memory. Prints figures."""
