"""Export: a genpt run as a Hugging Face hub folder that plain `transformers` loads (`genpt export`)."""
