"""Generation throughput: genpt's `GPT.generate` (key-value cache) against `transformers`'
`generate` on the same weights, and the exported model through `pipeline("text-generation")`.

Greedy and sampled, batch 1 and 8, `--new_tokens` new tokens after a 16-token prompt, fp32.
The `transformers` twins are converted from the same genpt model: `OpenAIGPTLMHeadModel`
(post-LN, which has no key-value cache in `transformers`) and `GPT2LMHeadModel` (pre-LN,
cached). Reported: new tokens per second (best of `--rounds`), and whether the greedy tokens
are identical. Each contender runs the same prompts, alternating.

    python bench/generate.py
    python bench/generate.py --preset mini --new_tokens 200 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_model
from genpt.models.gpt import GPT


def genpt_generate(model: GPT, prompt: torch.Tensor, new_tokens: int, greedy: bool) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(0)
    return model.generate(prompt, new_tokens, temperature=0.0 if greedy else 1.0, top_k=None if greedy else 50,
                          generator=generator)


def hf_generate(model, prompt: torch.Tensor, new_tokens: int, greedy: bool) -> torch.Tensor:
    torch.manual_seed(0)
    return model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                          do_sample=not greedy, top_k=50 if not greedy else None, pad_token_id=0)


def best_seconds(run, rounds: int) -> tuple[float, torch.Tensor]:
    best, output = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        output = run()
        best = min(best, time.perf_counter() - started)
    return best, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--new_tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}, {args.new_tokens} new tokens, fp32")
    print("| block | mode | batch | genpt tokens/s | transformers generate tokens/s | speed-up | identical greedy tokens |")
    print("|---|---|---:|---:|---:|---:|---|")
    for prenorm in (False, True):
        torch.manual_seed(0)
        ours = GPT(GPTConfig.from_name(args.preset, prenorm=prenorm)).eval()
        theirs = to_hf_model(ours).eval()
        for greedy in (True, False):
            for batch in (1, 8):
                prompt = torch.randint(5, ours.config.vocab_size, (batch, 16), generator=torch.Generator().manual_seed(batch))
                with torch.no_grad():
                    ours_s, ours_out = best_seconds(lambda: genpt_generate(ours, prompt, args.new_tokens, greedy), args.rounds)
                    theirs_s, theirs_out = best_seconds(lambda: hf_generate(theirs, prompt, args.new_tokens, greedy), args.rounds)
                new = batch * args.new_tokens
                same = torch.equal(ours_out, theirs_out) if greedy else "(sampled)"
                print(f"| {'pre-LN vs GPT2LMHeadModel' if prenorm else 'post-LN vs OpenAIGPTLMHeadModel'} | "
                      f"{'greedy' if greedy else 'sampled'} | {batch} | {new / ours_s:,.0f} | {new / theirs_s:,.0f} | "
                      f"{theirs_s / ours_s:.2f}x | {same} |", flush=True)
    pipeline_row(args)


def pipeline_row(args: argparse.Namespace) -> None:
    """The exported model through `pipeline("text-generation")`, greedy, against genpt on the same prompt."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, pipeline

    torch.manual_seed(0)
    ours = GPT(GPTConfig.from_name(args.preset)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        to_hf_model(ours).save_pretrained(folder)
        vocab = {f"t{i}": i for i in range(ours.config.vocab_size)}
        backend = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="t0").save_pretrained(folder)
        generate = pipeline("text-generation", model=str(folder), device="cpu")
        prompt_ids = list(range(100, 116))
        prompt = " ".join(f"t{i}" for i in prompt_ids)
        pipe_s, _ = best_seconds(lambda: generate(prompt, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                                  do_sample=False, return_tensors=True), args.rounds)
        ids = torch.tensor([prompt_ids])
        with torch.no_grad():
            ours_s, ours_out = best_seconds(lambda: genpt_generate(ours, ids, args.new_tokens, True), args.rounds)
        piped = generate(prompt, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                         return_tensors=True)[0]["generated_token_ids"]
        print(f"| post-LN vs the export's pipeline | greedy | 1 | {args.new_tokens / ours_s:,.0f} | "
              f"{args.new_tokens / pipe_s:,.0f} | {pipe_s / ours_s:.2f}x | {list(piped) == ours_out[0].tolist()} |")


if __name__ == "__main__":
    main()
