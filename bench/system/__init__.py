"""The whole system: leads/s through the funnel with all five services, POST → task in the queue."""
