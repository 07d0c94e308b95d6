"""Assignment: assignments/s from a backlog of lead.qualified, and the fairness reached."""
