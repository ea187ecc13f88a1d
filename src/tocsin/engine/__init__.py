"""Durable work: everything due lives in tables; these loops do it when it falls due."""
