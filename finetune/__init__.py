"""Stage 3: supervised fine-tuning with task heads (`genpt finetune`)."""
