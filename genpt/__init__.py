"""genpt: Generative Pre-Training as in GPT-1 (Radford et al. 2018).

The core package holds what every stage shares: the models, their configs and presets,
conversion to and from `transformers`, data readers, and the `genpt` command line.
The stages (`genpt.tokenizer`, `genpt.pretrain`, `genpt.finetune`, `genpt.eval`) live in
the top-level folders of the same name and import the core, never each other.
"""

__version__ = "0.1.0"
