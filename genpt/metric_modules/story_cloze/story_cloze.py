"""Story Cloze accuracy (the right ending's position, 0 or 1), as an `evaluate` module."""

import datasets
import evaluate

from genpt.metrics import compute_metrics


class StoryCloze(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__, citation="Mostafazadeh et al. 2016", inputs_description="chosen and right ending ids",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}))

    def _compute(self, predictions, references):
        return compute_metrics(("accuracy",), predictions, references)
