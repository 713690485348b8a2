"""Stage 2: generative pretraining of the decoder (`genpt pretrain`)."""
