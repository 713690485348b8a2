"""Greedy and beam-search decoding on a decoder whose probabilities are known exactly."""

import math

import torch

from genpt.models.decoding import beam_search, greedy_decode

BOS, EOS, A, B = 0, 1, 2, 3
# P(next | last token): greedy takes A (0.6) then stops (0.5), probability 0.30;
# the best sequence is B (0.4) then stop (0.9), probability 0.36.
TABLE = torch.tensor([
    [0.0, 0.0, 0.6, 0.4],   # after BOS
    [0.0, 1.0, 0.0, 0.0],   # after EOS
    [0.0, 0.5, 0.3, 0.2],   # after A
    [0.0, 0.9, 0.05, 0.05],  # after B
])


class MarkovDecoder:
    """Next-token log-probabilities from the last token only; its state is that token."""

    def __init__(self, rows: int):
        self.last = torch.full((rows,), BOS)
        self.calls = 0

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.last = tokens
        return TABLE[tokens].clamp(min=1e-12).log()

    def reorder(self, rows: torch.Tensor) -> None:
        self.last = self.last[rows]


def test_greedy_takes_the_locally_best_token():
    out = greedy_decode(MarkovDecoder(2), BOS, EOS, batch_size=2, max_length=5, device="cpu")
    assert out.tolist() == [[A, EOS], [A, EOS]]


def test_beam_search_finds_the_most_probable_sequence():
    out = beam_search(MarkovDecoder(3 * 4), BOS, EOS, batch_size=3, max_length=5, num_beams=4, length_penalty=0.0, device="cpu")
    assert out[:, :2].tolist() == [[B, EOS]] * 3
    assert math.isclose(0.4 * 0.9, 0.36) and 0.36 > 0.6 * 0.5


def test_one_beam_is_greedy_and_finished_rows_pad_with_eos():
    greedy = greedy_decode(MarkovDecoder(1), BOS, EOS, batch_size=1, max_length=4, device="cpu")
    beam = beam_search(MarkovDecoder(1), BOS, EOS, batch_size=1, max_length=4, num_beams=1, device="cpu")
    assert beam[0, : greedy.size(1)].tolist() == greedy[0].tolist()
    assert set(beam[0, greedy.size(1):].tolist()) <= {EOS}
