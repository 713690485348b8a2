"""Data: pretraining corpora, downstream tasks, GPT-1's input transformations and batching."""
