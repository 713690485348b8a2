"""Stage 1: train the byte-level BPE tokenizer (`genpt tokenizer train`)."""
