"""Forecourt metrics: the funnel KPIs, projected from every event, order-free and rebuildable."""
