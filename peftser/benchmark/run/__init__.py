"""Running a grid: cells through the local scheduler or a Slurm array, one training each, into the result store."""
