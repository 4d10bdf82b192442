#!/usr/bin/env python
"""Train and evaluate every variant of a suite with the same decoder, tokenizer and token budget.

    python benchmarks/quality_suite.py --suite wikitext2 [--variants flat_lm three_level] [--k 100] [--max-steps 1200]
    python benchmarks/quality_suite.py --suite ptb
    python benchmarks/quality_suite.py --suite quickstart_levers --k 10      # the latent-use ablation
    python benchmarks/quality_suite.py --suite gutenberg_style --k 5         # + style consistency of generations

Each variant is the suite's base config, then the suite's `base` overrides if it has any, then the
variant's own (so only the latent levels differ). It trains with `accelerate launch
recipes/train_docs.py`, evaluates the test split with `recipes/evaluate_docs.py` (and, in a suite
with a `style` entry, every model with a document level with `recipes/generate_docs.py --mode
style-consistency`), and the suite ends with one comparison table (Markdown and JSON) under
`--output` (default outputs/bench/<suite>). Finished variants (and their evaluations and style
runs, when the command is the same) are reused unless --retrain.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_reports import compare  # noqa: E402

# The levers of the latent-use ablation, each spelled out in full so that a variant means the same
# whatever the base config's own settings are.
INPUT = "model.config.latent_injection={document: [memory], paragraph: [memory], sentence: [embedding]}"
LAYERS_INPUT = "model.config.latent_injection={document: [memory, layers], paragraph: [memory, layers], sentence: [embedding]}"
LAYERS_ONLY = "model.config.latent_injection={document: [layers], paragraph: [layers], sentence: [layers]}"
LAYERS_ALL = "model.config.latent_injection={document: [memory, layers], paragraph: [memory, layers], sentence: [embedding, layers]}"
# Overrides replace what a key held since 2026-12-02; before, a mapping was merged into the YAML's,
# so `key={}` did nothing. The variants below are written so that they run what was recorded then.
# BN-VAE with one gamma for every level and free bits 0.1 below the document level (the recipe
# before the ablation; the document level kept the YAML's 0.25) ...
BN_UNIFORM = ["model.config.posterior_mean_norm={document: 0.5, paragraph: 0.5, sentence: 0.3}", "objective.free_bits.nats=0.1"]
# ... and graded: a wide document level, narrow lower levels, free bits mostly at the top, so a
# level that carries nothing is not made to pay a KL floor.
BN_GRADED = ["model.config.posterior_mean_norm={document: 1.0, paragraph: 0.2, sentence: 0.1}", "objective.free_bits.nats=0.02",
             "objective.levels={document: {free_bits: {mode: dimension, nats: 0.25}}}"]
# Optimus's single cycle: an autoencoding phase (beta = 0), then a ramp, free bits; on top of the
# YAML's BN-VAE (graded), which the recorded runs kept (their `posterior_mean_norm={}` did nothing).
CYCLE = ["objective.beta.kind=linear", "objective.beta.offset_steps=100", "objective.beta.warmup_steps=100",
         "objective.free_bits.nats=0.02", "objective.levels={document: {free_bits: {mode: dimension, nats: 0.25}}}"]
NO_BN = "model.config.posterior_mean_norm={}"
NO_FREE_BITS = ["objective.free_bits.mode=none", "objective.levels={}"]
# The cycle's free bits (both levels' thresholds), falling linearly to 0 over steps 200-350 of the
# quickstart's 400: the levels are free while the decoder learns to read them, and keep at the end
# only the KL that pays.
FREE_BITS_DECAY = ["objective.free_bits.decay_offset_steps=200", "objective.free_bits.decay_steps=150",
                   "objective.levels.document.free_bits.decay_offset_steps=200", "objective.levels.document.free_bits.decay_steps=150"]

# The levers that decide whether closed gates open: how much one gate step injects (the projections'
# initial scale), how fast a gate moves (its learning rate), and a reason for the encoder to encode
# while the gates are shut (bag-of-words losses: the encoder gets no reconstruction gradient then).
PROJECTION_STD = "model.config.layer_projection_std=0.15"
GATE_LR = "optim.param_groups={decoder.layers.gates: {lr_scale: 10}}"
BOW_ALL = "objective.bow_loss_weight={document: 0.5, paragraph: 0.5, sentence: 0.5}"
# The injection before the gate: gates open (1) over zero-initialised projections.
UNGATED = ["model.config.layer_gate_init=1.0", "model.config.layer_projection_std=0.0"]
# Optimus's single cycle on WikiText-2's 800 steps: beta = 0 for the first quarter, then a 200-step ramp.
WIKITEXT2_CYCLE = ["objective.beta.kind=linear", "objective.beta.offset_steps=200", "objective.beta.warmup_steps=200"]
# The Gutenberg config before 2026-12-03: gates at the base learning rate, beta warmed up from step 0.
GUTENBERG_BEFORE = ["optim.param_groups={}", "objective.beta.offset_steps=0", "objective.beta.warmup_steps=300", "objective.stagger_steps=0"]
# One decoder stream per paragraph (the Gutenberg config until 2026-12-03, third session, and the
# quickstart's before that day) or per sentence (both configs since).
PARAGRAPH_STREAMS = "model.config.decoder_context=paragraph"
SENTENCE_STREAMS = "model.config.decoder_context=sentence"
# The quickstart config before 2026-12-03 (paragraph streams, beta warmed up from step 0): the base of
# every quickstart suite, so that their variants run what docs/findings.md records.
QUICKSTART_BEFORE = [PARAGRAPH_STREAMS, "objective.beta.offset_steps=0", "objective.beta.warmup_steps=200"]
# The style-consistency command of docs/results.md#gutenberg: 20 references, 5 documents in each one's style (and as many
# prior samples), 3 paragraphs of at most 120 tokens each.
STYLE_CONSISTENCY = ["--references-count", "20", "--per-reference", "5", "--max-paragraphs", "3", "--max-tokens", "120"]

SUITES = {
    "wikitext2": {
        "config": "recipes/configs/wikitext2.yaml",
        "variants": {
            "flat_lm": ["model.config.levels=[]"],
            # The flat LM a user would pick: the whole window as one stream (positions for 1,536 tokens).
            "flat_lm_document": ["model.config.levels=[]", "model.config.decoder_context=document", "model.config.decoder.n_positions=1540"],
            "sentence_vae": ["model.config.levels=[sentence]"],
            "two_level": ["model.config.levels=[document,sentence]"],
            "three_level": [],
        },
    },
    "ptb": {
        "config": "recipes/configs/ptb_sentence_vae.yaml",
        "variants": {"flat_lm": ["model.config.levels=[]"], "sentence_vae": []},
    },
    "quickstart_levers": {
        "config": "recipes/configs/quickstart.yaml",
        "base": QUICKSTART_BEFORE,
        "variants": {
            "flat_lm": ["model.config.levels=[]"],
            "flat_lm_document": ["model.config.levels=[]", "model.config.decoder_context=document", "model.config.decoder.n_positions=1040"],
            "input_bn_uniform": [INPUT, *BN_UNIFORM],
            "input_bn_graded": [INPUT, *BN_GRADED],
            "layers_only_bn_graded": [LAYERS_ONLY, *BN_GRADED],
            "layers_input_bn_uniform": [LAYERS_INPUT, *BN_UNIFORM],
            "layers_input_bn_graded": [LAYERS_INPUT, *BN_GRADED],
            "layers_all_bn_graded": [LAYERS_ALL, *BN_GRADED],
            "layers_input_cycle": [LAYERS_INPUT, *CYCLE],
            "layers_input_bn_graded_kl_balancing": [LAYERS_INPUT, *BN_GRADED, "objective.kl_balancing=true"],
            "layers_input_bn_graded_warm_start": [LAYERS_INPUT, *BN_GRADED, "model.decoder_name_or_path={output}/flat_lm/final"],
            "layers_only_bn_graded_warm_start": [LAYERS_ONLY, *BN_GRADED, "model.decoder_name_or_path={output}/flat_lm/final"],
            # The control of the warm starts: the flat LM trained on for as many steps, schedule restarted.
            "flat_lm_warm_start": ["model.config.levels=[]", "model.decoder_name_or_path={output}/flat_lm/final"],
        },
    },
    "quickstart_gates": {
        "config": "recipes/configs/quickstart.yaml",
        "base": QUICKSTART_BEFORE,
        "variants": {
            "flat_lm": ["model.config.levels=[]"],
            "gated": [],
            "gated_projection_std": [PROJECTION_STD],
            "gated_gate_lr": [GATE_LR],
            "gated_projection_std_gate_lr": [PROJECTION_STD, GATE_LR],
            "gated_projection_std_gate_lr_bow": [PROJECTION_STD, GATE_LR, BOW_ALL],
            "gated_bow": [BOW_ALL],
            # Without the gate, zero-initialised projections random-walk under Adam (docs/findings.md#gate-random-walk); a
            # large eps makes the steps of their small, noisy gradients small (SGD-like) and leaves large ones alone.
            "ungated": UNGATED,
            "ungated_projection_eps_1e-2": [*UNGATED, "optim.param_groups={decoder.layers.projections: {eps: 1.0e-2}}"],
            "ungated_projection_eps_1e-1": [*UNGATED, "optim.param_groups={decoder.layers.projections: {eps: 1.0e-1}}"],
            # Optimus's single cycle with the gate: while beta = 0 the latents carry information at no KL
            # cost, which is when a gate should open.
            "gated_cycle": CYCLE,
            "gated_cycle_bow": [*CYCLE, BOW_ALL],
            "gated_bow_document": ["objective.bow_loss_weight={document: 0.2}"],
            # KL the model chooses (2026-12-02, third session): the cycle without the floors BN-VAE
            # and free bits put under every level's KL, so a level pays only for what it keeps.
            "gated_cycle_no_bn": [*CYCLE, NO_BN],
            "gated_cycle_no_free_bits": [*CYCLE, *NO_FREE_BITS],
            "gated_cycle_no_bn_no_free_bits": [*CYCLE, NO_BN, *NO_FREE_BITS],
            # Half the sentence latents hidden from the decoder in training: those sentences can only be
            # predicted from z_par and z_doc, so the upper levels must carry what z_sen would have.
            "gated_cycle_decoder_sentence_drop": [*CYCLE, "model.config.decoder_latent_drop={sentence: 0.5}"],
            # Is z_par unread because a paragraph-stream decoder already sees a paragraph's earlier
            # sentences? With one stream per sentence, everything that crosses sentences must come
            # through the latents (docs/findings.md#sentence-streams: z_par is still not read).
            "flat_lm_sentence_context": ["model.config.levels=[]", SENTENCE_STREAMS],
            # The shipped quickstart since 2026-12-03.
            "gated_cycle_sentence_context": [*CYCLE, SENTENCE_STREAMS],
            # Is z_par left unread because z_sen carries what crosses sentences? Without a sentence level
            # only z_par and z_doc can; a bag-of-words loss per paragraph gives z_par its own reason to encode
            # (docs/findings.md#sentence-streams: without z_sen z_par is still not read; with the loss every level is).
            "gated_cycle_sentence_context_no_sentence_level": [*CYCLE, SENTENCE_STREAMS,
                                                               "model.config.levels=[document,paragraph]"],
            "gated_cycle_sentence_context_paragraph_bow": [*CYCLE, SENTENCE_STREAMS,
                                                           "objective.bow_loss_weight={paragraph: 0.5}"],
            # Each level's KL ends at its free bits, which the ELBO charges (docs/findings.md#kl-is-free-bits): the same
            # with the free bits falling to 0 once beta is 1, so that the run ends on the ELBO it reports
            # (docs/findings.md#free-bits-decay: 1.3% lower validation PPL over 3 seeds, but the levels give back most
            # of their KL and of what the decoder read; not shipped).
            "gated_cycle_sentence_context_free_bits_decay": [*CYCLE, SENTENCE_STREAMS, *FREE_BITS_DECAY],
        },
    },
    # A decoder warm-started from the trained flat LM (model.decoder_name_or_path), against the flat LM
    # trained on from itself for as many steps (the control with the same decoder steps).
    "quickstart_warm_start": {
        "config": "recipes/configs/quickstart.yaml",
        "base": QUICKSTART_BEFORE,
        "variants": {
            "flat_lm": ["model.config.levels=[]"],
            "flat_lm_warm_start": ["model.config.levels=[]", "model.decoder_name_or_path={output}/flat_lm/final"],
            "ungated_warm_start": [*UNGATED, "model.decoder_name_or_path={output}/flat_lm/final"],
            "gated_warm_start": ["model.decoder_name_or_path={output}/flat_lm/final"],
            "gated_warm_start_bow": [BOW_ALL, "model.decoder_name_or_path={output}/flat_lm/final"],
            "ungated_warm_start_bow": [*UNGATED, BOW_ALL, "model.decoder_name_or_path={output}/flat_lm/final"],
            "gated_cycle_warm_start": [*CYCLE, "model.decoder_name_or_path={output}/flat_lm/final"],
        },
    },
    # The quickstart's best levers on WikiText-2's budget (800 steps): gates at 10x lr, and Optimus's
    # single cycle (beta = 0 for the first quarter, then a ramp) in place of BN-VAE.
    "wikitext2_gates": {
        "config": "recipes/configs/wikitext2.yaml",
        "variants": {
            "three_level_gate_lr": [GATE_LR],
            # On the YAML's BN-VAE (graded) and free bits (0.25 nats per dimension at the document level, 0.02 below).
            "three_level_gate_lr_cycle": [GATE_LR, *WIKITEXT2_CYCLE],
            # The same without free bits below the document level.
            "three_level_gate_lr_cycle_no_lower_free_bits": [GATE_LR, *WIKITEXT2_CYCLE, "objective.free_bits.mode=none"],
            # Not run yet: the cycle in place of BN-VAE, and the document level's free bits as the others'.
            "three_level_gate_lr_cycle_no_bn": [GATE_LR, *WIKITEXT2_CYCLE, NO_BN],
            "three_level_gate_lr_cycle_low_free_bits": [GATE_LR, *WIKITEXT2_CYCLE, "objective.levels={}"],
            # Not run yet: half the sentence latents hidden from the decoder in training (the sentence
            # level carries 25 nats per document here, and with it the decoder has no reason to read z_par).
            "three_level_gate_lr_cycle_decoder_sentence_drop": [GATE_LR, *WIKITEXT2_CYCLE, "model.config.decoder_latent_drop={sentence: 0.5}"],
        },
    },
    # z_doc as a document's style on 13 Gutenberg books (authors as labels), at the earlier style budget
    # of 300 steps (docs/findings.md#gutenberg-levers): the config before 2026-12-03, and WikiText-2's levers scaled to 300 steps
    # (all with the paragraph streams the config had until 2026-12-03, third session).
    "gutenberg_style": {
        "config": "recipes/configs/gutenberg_style.yaml",
        "max_steps": 300,
        "style": STYLE_CONSISTENCY,
        "variants": {
            "flat_lm": ["model.config.levels=[]", PARAGRAPH_STREAMS],
            "gated": [*GUTENBERG_BEFORE, PARAGRAPH_STREAMS],
            "gate_lr_cycle": [GATE_LR, "objective.beta.kind=linear", "objective.beta.offset_steps=75", "objective.beta.warmup_steps=75",
                              "objective.stagger_steps=38", PARAGRAPH_STREAMS],
        },
    },
    # The same at the config's 800 steps. gate_lr_cycle (WikiText-2's levers) was the shipped config
    # from 2026-12-03; gate_lr_cycle_sentence_context (the same with one stream per sentence) is since
    # the third session of that day (docs/findings.md#gutenberg-sentence-streams).
    "gutenberg_style_full": {
        "config": "recipes/configs/gutenberg_style.yaml",
        "style": STYLE_CONSISTENCY,
        "variants": {
            "flat_lm": ["model.config.levels=[]", PARAGRAPH_STREAMS],
            "gated": [*GUTENBERG_BEFORE, PARAGRAPH_STREAMS],
            "gate_lr_cycle": [GATE_LR, *WIKITEXT2_CYCLE, "objective.stagger_steps=100", PARAGRAPH_STREAMS],
            # The document level's KL sits at its free bits (0.25 nats x 32 dimensions; BN-VAE's floor is
            # evaded, docs/findings.md#kl-is-free-bits): twice the free bits (run 2026-12-03: +1.0% IW PPL, style changes
            # within the noise; not shipped).
            "gate_lr_cycle_document_free_bits_0.5": [GATE_LR, *WIKITEXT2_CYCLE, "objective.stagger_steps=100", PARAGRAPH_STREAMS,
                                                     "objective.levels={document: {free_bits: {mode: dimension, nats: 0.5}}}"],
            # One decoder stream per sentence (the quickstart's context since 2026-12-03): across
            # sentences the author reaches the decoder only through the latents.
            "flat_lm_sentence_context": ["model.config.levels=[]", SENTENCE_STREAMS],
            "gate_lr_cycle_sentence_context": [GATE_LR, *WIKITEXT2_CYCLE, "objective.stagger_steps=100", SENTENCE_STREAMS],
        },
    },
    # The same flat LM on each tokenizer kind, compared by word-level PPL (tokenizer-independent).
    "quickstart_tokenizers": {
        "config": "recipes/configs/quickstart.yaml",
        "base": QUICKSTART_BEFORE,
        "variants": {
            "flat_lm_bpe": ["model.config.levels=[]", "data.prepared_dir={output}/data_bpe"],
            "flat_lm_unigram": ["model.config.levels=[]", "data.prepared_dir={output}/data_unigram", "data.prepare.tokenizer.kind=unigram"],
        },
    },
}


def run(command: list[str], log: Path, env: dict | None = None) -> float:
    """Run a command, streaming its output to a log file; return its wall time (s)."""
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})})
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\nsee {log}:\n" + log.read_text()[-3000:])
    return time.perf_counter() - started


def run_unless_done(command: list[str], record: Path, log: Path, what: str, retrain: bool) -> None:
    """Run `command` unless `record` says the same command already ran on this model (evaluation
    and generation are deterministic given the seed, so their outputs are reused)."""
    if not retrain and record.is_file() and json.loads(record.read_text()) == command[1:]:
        print(f"{what}: reusing the output of the same command ({record})", flush=True)
        return
    print(f"{what} ...", flush=True)
    run(command, log)
    record.write_text(json.dumps(command[1:]))


def literature_units(report: dict, sentences: int) -> dict:
    """PTB papers report NLL per sentence and word PPL over words plus one end-of-sentence per sentence."""
    nll = report.get("nll_iw_per_document", report["nll_elbo_per_document"]) * report["documents"]
    return {
        "nll_per_sentence": nll / sentences,
        "word_ppl_words_plus_eos": math.exp(nll / (report["words"] + sentences)),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), default="wikitext2")
    parser.add_argument("--variants", nargs="*", default=None, help="subset of the suite's variants")
    parser.add_argument("--k", type=int, default=100, help="importance samples for the test IW NLL")
    parser.add_argument("--max-steps", type=int, default=None, help="override training.max_steps for every variant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-max-documents", type=int, default=None, help="evaluate on the first N test windows only")
    parser.add_argument("--bleu-documents", type=int, default=None, help="greedy reconstructions for BLEU (evaluate_docs.py's default; 0 skips)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--extra", nargs="*", default=[], help="overrides applied to every variant")
    parser.add_argument("--output", default=None)
    parser.add_argument("--retrain", action="store_true", help="train again even where a finished model exists")
    args = parser.parse_args(argv)

    suite = SUITES[args.suite]
    names = args.variants or list(suite["variants"])
    unknown = [n for n in names if n not in suite["variants"]]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; {args.suite} has {list(suite['variants'])}")
    output = Path(args.output or REPO / "outputs" / "bench" / args.suite)
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        run_dir = output / name
        variant = [override.replace("{output}", str(output)) for override in [*suite.get("base", []), *suite["variants"][name]]]
        overrides = [*variant, *args.extra, f"training.output_dir={run_dir}", f"training.seed={args.seed}"]
        if args.max_steps or suite.get("max_steps"):
            overrides.append(f"training.max_steps={args.max_steps or suite['max_steps']}")
        entry = {"overrides": overrides}
        recorded = run_dir / "suite_overrides.json"
        finished = (run_dir / "final" / "model.safetensors").is_file()
        if finished and not args.retrain and recorded.is_file() and json.loads(recorded.read_text()) != overrides:
            raise SystemExit(f"{run_dir} was trained with other overrides ({recorded.read_text()}); pass --retrain or another --output")
        if args.retrain or not finished:
            shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run never mixes with an earlier one
            run_dir.mkdir(parents=True)
            recorded.write_text(json.dumps(overrides))
            print(f"[{name}] training ({' '.join(overrides)}) ...", flush=True)
            launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_cpu_threads_per_process", str(args.threads)]
            # The end-of-training IW validation is skipped: the suite's own test evaluation replaces
            # it, and it changes nothing in the model (so it is not part of the recorded overrides).
            command = [*launch, "recipes/train_docs.py", "--config", suite["config"], *overrides, "training.iw_samples=0"]
            entry["train_seconds"] = run(command, output / f"{name}.train.log")
        records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if "tokens_per_second" in line]
        entry["train_tokens_per_second"] = sum(r["tokens_per_second"] for r in records[1:]) / max(len(records) - 1, 1)
        evaluate = [sys.executable, "recipes/evaluate_docs.py", "--model", str(run_dir / "final"), "--split", "test", "--k", str(args.k),
                    "--seed", str(args.seed), "--threads", str(args.threads), "--log", str(run_dir / "log.jsonl"), "--output", str(run_dir / "eval_test")]
        if args.eval_max_documents:
            evaluate += ["--max-documents", str(args.eval_max_documents)]
        if args.bleu_documents is not None:
            evaluate += ["--bleu-documents", str(args.bleu_documents)]
        run_unless_done(evaluate, run_dir / "eval_test" / "suite_command.json", output / f"{name}.eval.log", f"[{name}] evaluating (k={args.k})", args.retrain)
        entry["report"] = json.loads((run_dir / "eval_test" / "report.json").read_text())
        if suite.get("style") and "document" in json.loads((run_dir / "final" / "config.json").read_text())["levels"]:
            stem = run_dir / "style_consistency"
            generate = [sys.executable, "recipes/generate_docs.py", "--model", str(run_dir / "final"), "--mode", "style-consistency",
                        *suite["style"], "--seed", str(args.seed), "--output", str(stem)]
            run_unless_done(generate, run_dir / "style_command.json", output / f"{name}.style.log", f"[{name}] style consistency", args.retrain)
            record = json.loads(stem.with_suffix(".jsonl").read_text().splitlines()[0])
            entry["style"] = {key: value for key, value in record.items() if key not in ("samples", "settings", "definition")}
        results[name] = entry
        print(f"[{name}] PPL (ELBO) {entry['report']['ppl_elbo']:.2f}, PPL (IW) {entry['report'].get('ppl_iw', float('nan')):.2f}", flush=True)

    table = compare({name: entry["report"] for name, entry in results.items()})
    speed = ["| variant | train tokens/s | ratio to flat LM | eval documents/s | train wall (min) | eval wall (min) |", "|---|---|---|---|---|---|"]
    flat = results.get("flat_lm", {}).get("train_tokens_per_second")
    for name, entry in results.items():
        ratio = f"{entry['train_tokens_per_second'] / flat:.2f}" if flat else "-"
        train_min = f"{entry['train_seconds'] / 60:.1f}" if "train_seconds" in entry else "(reused)"
        speed.append(f"| {name} | {entry['train_tokens_per_second']:,.0f} | {ratio} | {entry['report']['documents_per_second']:.2f} | {train_min} | {entry['report']['seconds'] / 60:.1f} |")
    sections = [f"## {args.suite}: test split, k = {args.k}", "", table, "", "Speed (this machine, measured within each run):", "", *speed]
    styled = {name: entry["style"] for name, entry in results.items() if "style" in entry}
    if styled:
        keys = ["style_retrieval_accuracy", "prior_retrieval_accuracy", "references_half_retrieval_accuracy", "style_retrieval_same_label",
                "style_label_agreement", "prior_label_agreement",
                "style_within_document_consistency", "prior_within_document_consistency", "references_within_document_consistency"]
        lines = ["| variant | " + " | ".join(key.replace("_", " ") for key in keys) + " |", "|---|" + "---|" * len(keys)]
        lines += [f"| {name} | " + " | ".join(f"{style.get(key, float('nan')):.3f}" for key in keys) + " |" for name, style in styled.items()]
        chance = next(iter(styled.values()))["chance"]
        sections += ["", f"Style consistency (retrieval chance {chance:.3f}; its ceiling: references' second halves finding their first halves; "
                     "same label: the nearest reference has the owner's label; label agreement and consistency by the TF-IDF author classifier):", "", *lines]
    if args.suite == "ptb":
        lines = ["| variant | NLL / sentence (nats) | word PPL (words + EOS, literature) | word PPL (ours: words only) |", "|---|---|---|---|"]
        for name, entry in results.items():
            report = entry["report"]
            units = literature_units(report, sentences=report["documents"])  # one sentence per PTB document
            ours = report.get("word_ppl_iw") or report["word_ppl_elbo"]
            lines.append(f"| {name} | {units['nll_per_sentence']:.2f} | {units['word_ppl_words_plus_eos']:.2f} | {ours:.2f} |")
            entry["literature_units"] = units
        sections += ["", "In the literature's units:", "", *lines]
    markdown = "\n".join(sections)
    (output / "results.md").write_text(markdown + "\n")
    (output / "results.json").write_text(json.dumps({"suite": args.suite, "k": args.k, "seed": args.seed, "results": results}, indent=2))
    print("\n" + markdown)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
