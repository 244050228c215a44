"""Tasks (corpora, their trainings, labels, gender) and the SER head."""
