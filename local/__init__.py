"""Runs the whole system on one machine: embedded PostgreSQL, the API, the dispatcher, the scheduler."""
