"""Special tokens for GPT-1's input transformations (paper, section 3.3).

`start` opens every input, `delim` separates the segments of a pair, and the classifier
reads the final hidden state at `extract`. `endoftext` separates documents in pretraining
and `pad` fills batches; neither is ever attended to by a real token.
"""

START = "<|start|>"
DELIM = "<|delim|>"
EXTRACT = "<|extract|>"
PAD = "<|pad|>"
ENDOFTEXT = "<|endoftext|>"

# Order fixes their ids: they come first in every genpt vocabulary (ids 0..4).
ALL = (ENDOFTEXT, PAD, START, DELIM, EXTRACT)
