"""The models: GPT (the paper's), its task heads, the two baselines, and decoding."""
