"""Baselines and the Table 5 experiment: the encoder-decoder Transformer and the LSTM with
attention on translation (`genpt seq2seq`), and every system side by side (`genpt compare`)."""
