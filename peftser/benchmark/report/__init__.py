"""Reporting: run records into a board, then markdown, JSON, plots and paired statistics."""
