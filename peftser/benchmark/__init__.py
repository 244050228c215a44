"""Grids, one training, metrics, scheduler, result store and leaderboard."""
