"""One process of tests/test_fsdp.py: a DocHVAE sharded with FSDP2 (`fully_shard`) on CPU (gloo).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/fsdp_worker.py <prepared corpus> <result.json> [bf16]

Every process trains a sharded model and an unsharded copy on the same batches, then, inside
`full_parameters`, validates, recalibrates BN-VAE, samples and checksums both; rank 0 writes what
it found (and the gathered full state dict's agreement with the copy) to the JSON file. With
`bf16`, the model is sharded with the policy Accelerate gives FSDP2 under `--mixed_precision bf16`
(parameters gathered and gradients reduced in bf16, fp32 master weights) and both models train
under bf16 autocast, as Accelerate runs the forward.
"""

import contextlib
import copy
import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor

from doc_hvae.data.batching import DocCollator
from doc_hvae.data.prepare import PreparedCorpus
from doc_hvae.evaluation import validation_metrics
from doc_hvae.generation import DEFAULT_SAMPLING, SamplingConfig, sample_prior, seeded_generator
from doc_hvae.trainer import full_parameters
from doc_hvae.training import ModelSection, build_model

TINY = {
    "levels": ["document", "paragraph", "sentence"],
    "latent_size": 8,
    "posterior_mean_norm": {"document": 1.0, "paragraph": 0.2, "sentence": 0.1},
    "decoder": {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 256},
    "encoder": {
        "model_type": "bert",
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
}


def checksum(model) -> float:
    return sum(float(p.detach().double().sum()) for p in model.parameters())


def sample_ids(model) -> list:
    sampling = SamplingConfig(**{**DEFAULT_SAMPLING, "max_paragraphs": 2, "max_sentences": 3, "max_tokens": 12})
    return [
        document.paragraphs for document in sample_prior(model, 2, sampling, seeded_generator(0, torch.device("cpu")))
    ]


def main(corpus_dir: str, result_file: str, precision: str = "fp32") -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    corpus = PreparedCorpus(corpus_dir)
    torch.manual_seed(0)
    model = build_model(ModelSection(config=TINY), corpus.tokenizer)
    reference = copy.deepcopy(model)
    bf16 = precision == "bf16"
    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16)
        if bf16
        else MixedPrecisionPolicy()
    )
    for block in model.decoder.lm.transformer.h:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    collator = DocCollator.for_model(model.config)
    rows = list(corpus.dataset["train"].select(range(6)))
    batches = [collator(rows[:3]), collator(rows[3:])]
    result = {"sharded": all(isinstance(p, DTensor) for p in model.parameters())}

    # The same batches on every process: the gradients FSDP averages equal the copy's.
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (model, reference)]
    for step, batch in enumerate(batches):
        for m, optimizer in zip((model, reference), optimizers):
            m.train()
            torch.manual_seed(step)  # the same dropout and posterior noise for both
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = m(batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    for m in (model, reference):
        m.eval()
    try:  # what full_parameters is for: the encoder called directly sees sharded parameters
        model.encoder(batches[0])
        result["direct_call_outside"] = "ran"
    except Exception as error:
        result["direct_call_outside"] = f"{type(error).__name__}: {error}"[:200]
    with full_parameters(model):
        result["whole_inside"] = not any(isinstance(p, DTensor) for p in model.parameters())
        model.recalibrate_posterior_norms(batches)
        reference.recalibrate_posterior_norms(batches)
        if dist.get_rank() == 0:  # the main process alone: nothing inside is a collective
            for name, m in (("validation", model), ("validation_reference", reference)):
                torch.manual_seed(0)  # the same posterior samples for both
                result[name] = validation_metrics(m, batches)
            samples = sample_ids(model)
            result["samples_equal"], result["samples_nonempty"] = samples == sample_ids(reference), all(samples)
        sums = [None] * dist.get_world_size()
        dist.all_gather_object(sums, checksum(model))
        result["checksums"], result["checksum_reference"] = sums, checksum(reference)
    result["sharded_after"] = all(isinstance(p, DTensor) for p in model.parameters())

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() == 0:
        expected = reference.state_dict()
        differences = {key: float((full[key].float() - expected[key].float()).abs().max()) for key in expected}
        result["state_dict_max_difference"], result["state_dict_max_difference_at"] = max(
            (v, k) for k, v in differences.items()
        )
        result["parameter_max_difference"] = max(differences[name] for name, _ in reference.named_parameters())
        result["state_dict_keys_equal"] = set(full) == set(expected)
        result["state_dict_dtypes"] = sorted(
            {str(tensor.dtype) for tensor in full.values() if tensor.is_floating_point()}
        )
        with open(result_file, "w") as handle:
            json.dump(result, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
