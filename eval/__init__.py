"""Stage 4: evaluation of saved runs (`genpt eval`)."""
