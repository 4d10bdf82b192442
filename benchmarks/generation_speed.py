"""Decoding speed: doc_hvae's ancestral loop against transformers' `generate()` on the same decoder.

One GPT-2 decoder architecture (`--layers`, `--width`, `--vocab`) is built twice, inside a flat
language model (`levels=[]`) and inside a three-level model (document, paragraph, sentence
latents: two memory slots and a sentence embedding), with random weights. For each model,
at batch `--batch`, side by side in one process:

- generate():        `model.decoder.lm.generate(inputs_embeds=<s> embeddings, do_sample=True,
                      max_new_tokens=N, min_new_tokens=N)`, the decoder used as a plain LM
                      (min_new_tokens masks end-of-sentence, so every stream makes N tokens);
- ours, KV cache:    `decode_documents(..., use_cache=True)`, one paragraph per document,
                      `max_tokens=N` and unbounded sentences, sampling at temperature 1
                      (for the three-level model: latents drawn from the priors, memory
                      slots, a new sentence latent at every end-of-sentence);
- ours, no cache:    the same loop re-reading the whole stream every step (the reference the
                      cached loop is tested against);
- ours, guided:      (three-level model) the cached loop with latent guidance, document g = 3
                      (two branches: 2 x batch rows in each decoder call), and document g = 3 with
                      paragraph g = 2 (three branches), compared with the unguided cached loop.

With `--model PATH` (a trained export) it times what a user decodes instead: `--documents` prior
samples of at most `--max-paragraphs` paragraphs of `--max-tokens` tokens (the style sweep's bounds),
the model's recommended sampling (DEFAULT_SAMPLING under its config's `sampling`, with its fitted
document prior) unguided against guided at each `--guidance` scale on z_doc. Trained streams end far
apart, where random weights make every stream run to the bound.

Our loop stops a stream at end-of-paragraph, so it counts the tokens it actually generated
(an untrained model emits it with probability about 1/vocab per step); generate() always
makes batch x N. Time is the median of `--repeats` runs after one warm-up run; the methods take
turns run by run, so load from elsewhere on a shared machine hits them alike.

Usage:
    python benchmarks/generation_speed.py [--layers 4 --width 256 --vocab 8000 --batch 8
        --new-tokens 128 --repeats 3 --threads 2] [--output results.json] [--profile]
    python benchmarks/generation_speed.py --model outputs/gutenberg_style/final [--guidance 1.5 2
        --documents 40 --max-paragraphs 3 --max-tokens 120 --repeats 3]

Prints a Markdown table (tokens/s and the ratio to generate() of the same model) and writes
the numbers as JSON with --output. --profile adds a per-operator breakdown of one cached run
of ours and of generate() (torch.profiler, CPU time), to see where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

from doc_hvae.config import DocHVAEConfig, default_decoder_config, default_encoder_config  # noqa: E402
from doc_hvae.generation import (  # noqa: E402
    LatentPlan,
    SamplingConfig,
    decode_documents,
    recommended_sampling_config,
    sample_prior,
    seeded_generator,
)
from doc_hvae.modeling import DocHVAE  # noqa: E402
from doc_hvae.modeling.loading import load_model, recommended_sampling  # noqa: E402

MODELS = {"flat LM": [], "three-level": ["document", "paragraph", "sentence"]}


def build_model(levels: list[str], args) -> DocHVAE:
    torch.manual_seed(args.seed)
    config = DocHVAEConfig(
        levels=levels,
        latent_size=args.latent_size,
        vocab_size=args.vocab,
        decoder=default_decoder_config(args.vocab, args.width, args.layers, args.heads),
        encoder=default_encoder_config(args.vocab, args.width, max(1, args.layers // 2), args.heads),
    )
    return DocHVAE(config).to(args.device).eval()


def run_generate(model: DocHVAE, args) -> int:
    """The decoder as a flat LM through transformers' generate(); returns the tokens made."""
    lm = model.decoder.lm
    bos = torch.full((args.batch, 1), model.config.bos_token_id, device=args.device)
    with torch.no_grad():
        embeds = lm.get_input_embeddings()(bos)
        out = lm.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(args.batch, 1, dtype=torch.long, device=args.device),
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            pad_token_id=model.config.pad_token_id,
            eos_token_id=model.config.sentence_end_token_id,
        )
    if out.shape != (args.batch, args.new_tokens):
        raise RuntimeError(f"generate() returned {tuple(out.shape)}, expected {(args.batch, args.new_tokens)}")
    return out.numel()


GUIDED = {
    "ours, guided (document 3)": {"document": 3.0},
    "ours, guided (document 3, paragraph 2)": {"document": 3.0, "paragraph": 2.0},
}


def run_ours(model: DocHVAE, args, use_cache: bool, seed: int, guidance: dict | None = None) -> int:
    """decode_documents: one paragraph per document, N tokens unless a stream ends it; returns tokens made."""
    sampling = SamplingConfig(
        temperature=1.0,
        max_paragraphs=1,
        max_sentences=args.new_tokens + 1,
        max_tokens=args.new_tokens,
        guidance=guidance or {},
    )
    plan = LatentPlan(num_documents=args.batch, num_paragraphs=[1] * args.batch)
    documents = decode_documents(model, plan, sampling, seeded_generator(seed, args.device), use_cache=use_cache)
    # Predicted positions per paragraph: content + boundaries. A paragraph cut by the bound has no
    # final boundary (num_tokens counts one for every sentence), hence the min.
    return sum(min(sum(len(s) + 1 for s in p), args.new_tokens) for d in documents for p in d.paragraphs)


def trained_model_methods(args) -> tuple[str, dict]:
    """The trained model's prior samples, unguided and at each --guidance scale on z_doc: (model name, methods)."""
    model = load_model(args.model).to(args.device).eval()
    recommended = recommended_sampling_config(recommended_sampling(args.model))
    bounds = dict(max_paragraphs=args.max_paragraphs, max_tokens=args.max_tokens)
    if recommended.document_prior == "fitted" and model.fitted_document_prior is None:
        bounds["document_prior"] = "trained"  # an export without its fit: N(0, I), said in the table's title
    scales = {"unguided": {}, **{f"guided (document {g:g})": {"document": g} for g in args.guidance}}

    def prior_samples(guidance: dict) -> int:
        sampling = replace(recommended, **bounds, guidance=guidance)
        documents = sample_prior(model, args.documents, sampling, seeded_generator(args.seed, args.device))
        return sum(document.num_tokens for document in documents)

    path = Path(args.model)
    name = path.parent.name if path.name == "final" else path.name  # the run's folder, not "final"
    prior = bounds.get("document_prior", recommended.document_prior)
    return f"{name} (z_doc prior: {prior})", {
        method: (lambda guidance=guidance: prior_samples(guidance)) for method, guidance in scales.items()
    }


def timed_interleaved(methods: dict, repeats: int) -> dict[str, tuple[float, int, list[float]]]:
    """Median-time run of each method: (seconds, tokens it made, all run times).

    Each method runs once to warm up, then the methods take turns (A B C A B C ...), so a burst of
    load from elsewhere on a shared machine hits all of them alike instead of one method's runs.
    """
    for fn in methods.values():
        fn()  # warm-up (allocations, first-call overheads)
    runs = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            tokens = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            runs[name].append((time.perf_counter() - start, tokens))
    result = {}
    for name, timings in runs.items():
        seconds, tokens = sorted(timings)[len(timings) // 2]
        result[name] = (seconds, tokens, [t[0] for t in timings])
    return result


def rated(model_name: str, timed: dict, reference: str | None, unguided: str) -> list[dict]:
    """One result row per timed method, with its ratios to the `reference` method (None: no column) and
    to the `unguided` one; each row is printed as it comes."""
    rates = {method: tokens / seconds for method, (seconds, tokens, _) in timed.items()}
    rows = []
    for method, (seconds, tokens, all_seconds) in timed.items():
        rate = rates[method]
        rows.append(
            {
                "model": model_name,
                "method": method,
                "tokens": tokens,
                "seconds": seconds,
                "tokens_per_second": rate,
                "ratio_to_generate": rate / rates[reference] if reference else None,
                "ratio_to_unguided": rate / rates[unguided] if unguided in rates else None,
                "all_seconds": all_seconds,
            }
        )
        print(
            f"{model_name:12s} {method:16s} {tokens:6d} tokens  {seconds:7.3f} s  {rate:9.1f} tokens/s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def profile(name: str, fn, rows: int = 12) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=rows)
    return f"### {name}\n\n```\n{table}\n```"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--latent-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--new-tokens", type=int, default=128, help="tokens per stream (generate: exactly; ours: at most)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-uncached", action="store_true", help="leave out our loop without cache (quadratic)")
    parser.add_argument(
        "--profile", action="store_true", help="print a torch.profiler breakdown of ours and generate()"
    )
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    trained = parser.add_argument_group("a trained model (instead of the random-weight models)")
    trained.add_argument("--model", help="a trained export folder: time its prior samples, unguided and guided")
    trained.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0], help="scales g on z_doc")
    trained.add_argument("--documents", type=int, default=40, help="prior samples per run (the style sweep's batch)")
    trained.add_argument("--max-paragraphs", type=int, default=3)
    trained.add_argument(
        "--max-tokens", type=int, default=120, help="per paragraph (per sentence with sentence streams)"
    )
    args = parser.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)

    results = []
    profiles = []
    if args.model:
        model_name, methods = trained_model_methods(args)
        results += rated(model_name, timed_interleaved(methods, args.repeats), None, "unguided")
    for model_name, levels in ({} if args.model else MODELS).items():
        model = build_model(levels, args)

        def baseline(model=model):
            torch.manual_seed(args.seed)
            return run_generate(model, args)

        methods = {"generate()": baseline, "ours, KV cache": lambda model=model: run_ours(model, args, True, args.seed)}
        if not args.skip_uncached:
            methods["ours, no cache"] = lambda model=model: run_ours(model, args, False, args.seed)
        if levels:
            for name, guidance in GUIDED.items():
                methods[name] = lambda model=model, guidance=guidance: run_ours(model, args, True, args.seed, guidance)
        results += rated(model_name, timed_interleaved(methods, args.repeats), "generate()", "ours, KV cache")
        if args.profile:
            profiles.append(profile(f"{model_name}: ours, KV cache", methods["ours, KV cache"]))
            profiles.append(profile(f"{model_name}: generate()", baseline))
        del model

    environment = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": args.device,
    }
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}

    if args.model:
        what = (
            f"{args.documents} prior samples of {args.model} (at most {args.max_paragraphs} paragraphs of "
            f"{args.max_tokens} tokens, its recommended sampling)"
        )
    else:
        what = (
            f"GPT-2 {args.layers} x {args.width}, vocab {args.vocab}, batch {args.batch}, "
            f"{args.new_tokens} new tokens per stream"
        )
    lines = [
        f"Decoding speed: {what}, {environment['threads']} threads on {args.device} "
        f"(median of {args.repeats}; torch {environment['torch']}, transformers {environment['transformers']})",
        "",
        "| model | method | tokens | seconds | tokens/s | ratio to generate() | ratio to unguided |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratios = [f"{r[key]:.2f}x" if r[key] is not None else "-" for key in ("ratio_to_generate", "ratio_to_unguided")]
        lines.append(
            f"| {r['model']} | {r['method']} | {r['tokens']} | {r['seconds']:.3f} | {r['tokens_per_second']:,.0f} | "
            f"{ratios[0]} | {ratios[1]} |"
        )
    print("\n".join(lines))
    for block in profiles:
        print("\n" + block)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps({"settings": settings, "environment": environment, "results": results}, indent=2) + "\n"
        )
        print(f"\nwrote {args.output}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
