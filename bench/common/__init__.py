"""What the benchmarks share: a service as a process, meters, percentiles, cleanup, reports."""
