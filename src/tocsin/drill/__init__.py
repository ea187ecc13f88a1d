"""Tabletop drills: a scenario played on a simulated clock through the real code paths."""
