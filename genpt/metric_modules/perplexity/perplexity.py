"""Perplexity from per-token losses, as an `evaluate` module (no model run: give the losses).

    perplexity.compute(predictions=token_nlls)                 # {'perplexity': ..., 'loss': ...}
    perplexity.compute(predictions=token_nlls, n_bytes=...)    # also bits_per_byte

`predictions` are the negative log-likelihoods (nats) of the scored tokens; `n_bytes`, the
UTF-8 bytes of the text they cover, adds bits per byte (tokenizer-independent).
"""

import math

import datasets
import evaluate


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__, citation="", inputs_description="per-token negative log-likelihoods, in nats",
            features=datasets.Features({"predictions": datasets.Value("float64")}))

    def _compute(self, predictions, n_bytes=None):
        total = math.fsum(predictions)
        results = {"loss": total / len(predictions), "perplexity": math.exp(total / len(predictions)), "tokens": len(predictions)}
        if n_bytes:
            results["bits_per_byte"] = total / math.log(2) / n_bytes
        return results
