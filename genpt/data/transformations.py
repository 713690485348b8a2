"""GPT-1's input transformations (paper, section 3.3, figure 1).

Every task becomes one or more token sequences for the same pretrained decoder:

    single (classification)   s text e
    pair (entailment)         s premise $ hypothesis e
    similarity                s A $ B e   and   s B $ A e      (both orderings)
    multiple choice           s context $ answer_k e           (one per candidate; RACE: the
                              context is the article and the question, s article question $ answer_k e)

`s` start, `$` delimiter, `e` extract: the classifier reads the final hidden state at `e`.
Truncation never drops a special token: texts are cut, longest first, to fit around them;
for multiple choice only the context (RACE's article) is cut, never the question or the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genpt import special_tokens
from genpt.data.types import Example, InputFormat
from genpt.errors import GenptError


@dataclass(frozen=True)
class SpecialIds:
    start: int
    delim: int
    extract: int
    pad: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> SpecialIds:
        ids = {token: tokenizer.convert_tokens_to_ids(token) for token in special_tokens.ALL}
        return cls(ids[special_tokens.START], ids[special_tokens.DELIM], ids[special_tokens.EXTRACT], ids[special_tokens.PAD])


def single(text: list[int], ids: SpecialIds, max_length: int) -> list[int]:
    """`s text e`, the text cut to fit `max_length`."""
    return [ids.start, *text[: max_length - 2], ids.extract]


def pair(first: list[int], second: list[int], ids: SpecialIds, max_length: int) -> list[int]:
    """`s first $ second e`, cutting the longer text first until the whole fits."""
    first, second = truncate_longest_first(first, second, max_length - 3)
    return [ids.start, *first, ids.delim, *second, ids.extract]


def choice_sequence(context: list[int], question: list[int], choice: list[int], ids: SpecialIds,
                    max_length: int) -> list[int]:
    """`s context question $ choice e`: the context is cut to fit (its start kept), the answer
    never; a question longer than what is left keeps its end, nearest the answer."""
    room = max_length - 3 - len(choice)
    if room < 0:
        raise GenptError(f"an answer option of {len(choice)} tokens does not fit --max_seq_length {max_length}")
    question = question[len(question) - room:] if len(question) > room else question
    return [ids.start, *context[: room - len(question)], *question, ids.delim, *choice, ids.extract]


def truncate_longest_first(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut the ends of the two texts until they hold `budget` tokens together.

    The rule of the `tokenizers` library's "longest_first" strategy, so that a genpt
    tokenizer's own pair template gives the same ids: the shorter text keeps up to half the
    budget, the longer the rest (on a tie the second text counts as the longer).
    """
    if len(first) + len(second) <= budget:
        return first, second
    keep_shorter = min(min(len(first), len(second)), budget // 2)
    keep_longer = budget - keep_shorter
    if len(first) > len(second):
        return first[:keep_longer], second[:keep_shorter]
    return first[:keep_shorter], second[:keep_longer]


def transform(example_tokens: Sequence[list[int]], input_format: InputFormat, ids: SpecialIds, max_length: int) -> list[list[int]]:
    """The sequences one example becomes: 1 for single and pair, 2 for similarity, K for K choices.

    `example_tokens` holds the example's texts already tokenized, in the order
    (text_a,) / (text_a, text_b) / (context, question, choice_1, ..., choice_K), the question
    empty where there is none (Story Cloze).
    """
    if max_length < 5:
        raise GenptError(f"--max_seq_length {max_length} is too short for the special tokens (at least 5)")
    if input_format == "single":
        return [single(example_tokens[0], ids, max_length)]
    if input_format == "pair":
        return [pair(example_tokens[0], example_tokens[1], ids, max_length)]
    if input_format == "similarity":
        a, b = example_tokens[0], example_tokens[1]
        return [pair(a, b, ids, max_length), pair(b, a, ids, max_length)]
    if input_format == "multiple_choice":
        context, question, *choices = example_tokens
        return [choice_sequence(context, question, choice, ids, max_length) for choice in choices]
    raise ValueError(f"unknown input format {input_format!r}")


def example_texts(example: Example, input_format: InputFormat) -> list[str]:
    if input_format == "single":
        return [example.text_a]
    if input_format in ("pair", "similarity"):
        return [example.text_a, example.text_b or ""]
    question = f" {example.text_b}" if example.text_b else ""  # a question continues the article's text
    return [example.text_a, question, *(example.choices or ())]


def encode_examples(examples: Sequence[Example], input_format: InputFormat, tokenizer, max_length: int) -> list[list[list[int]]]:
    """Token sequences of every example (see `transform`), tokenized in one parallel batch."""
    texts = [example_texts(example, input_format) for example in examples]
    flat = [text for group in texts for text in group]
    # add_special_tokens=False: the transformation places s, $ and e itself.
    encoded = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    ids = SpecialIds.from_tokenizer(tokenizer)
    sequences, position = [], 0
    for group in texts:
        sequences.append(transform(encoded[position : position + len(group)], input_format, ids, max_length))
        position += len(group)
    return sequences
