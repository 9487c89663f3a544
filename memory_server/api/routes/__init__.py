"""Routers grouped by what a caller does: ingest, read and delete memory, administer."""
