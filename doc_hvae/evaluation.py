"""The metrics of docs/metrics.md (generated from DEFINITIONS), one definition each, printed with every report.

Pure estimators (tested against closed forms on linear-Gaussian models) come first; the
model-facing passes after them. All passes are batched: documents are packed by the collator,
importance samples are stacked as repeated copies of a batch sharing one encoder pass.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

import sacrebleu
import torch
from tqdm.auto import tqdm

from .config import DocHVAEConfig
from .data.batching import DocBatch, DocCollator, TokenBudgetBatchSampler
from .generation import SamplingConfig, document_text, reconstruct, row_text, sample_prior
from .latent_map import MAP_LEVELS, LatentMap, latent_maps
from .modeling import DocHVAE
from .modeling.distributions import DiagonalGaussian
from .modeling.encoder import EncoderFeatures
from .modeling.modeling_doc_hvae import in_eval_mode

DEFINITIONS = {
    "tokens": "every predicted position: content tokens, end-of-sentence and end-of-paragraph; never BOS or padding",
    "NLL (ELBO)": "-ELBO = reconstruction NLL + stop-head NLL + KL of every level, nats per document and per token",
    "NLL (IW, k)": "-log (1/k) sum_k p(x, z_k) / q(z_k | x), z_k a joint sample of all levels, log-ratios summed over every unit "
    "of every level and over the stop head; per document, then per token",
    "PPL": "exp(total NLL / total tokens); word-level PPL uses whitespace words of the source text",
    "KL per level": "analytic KL summed over units and dimensions of that level: nats per document, per unit and per token, "
    "and its share of the total rate",
    "AU per level": "number of dimensions d with Cov over units of E_q[z_d] > 0.01 (posterior means, parents at their means)",
    "MI per level": "E[log q(z|x)] - E[log q(z)], q(z) the aggregate posterior over all of the level's units in the evaluation set "
    "(one sample per unit); at most log N",
    "information use": "reconstruction NLL with that level's decoder latents replaced by those of units of other documents "
    "(each document's units take those of the next document in the batch at the same position: in-distribution latents, "
    "wrong information) minus reconstruction NLL with its own, same posterior sample; nats per document and percent of "
    "reconstruction PPL. The measure of whether the decoder reads a level",
    "prior substitution (delta PPL)": "reconstruction PPL with that level's latents drawn from their prior (parents from the "
    "posterior) minus reconstruction PPL with all latents from the posterior; positive also when the decoder only reacts to "
    "a prior/posterior mismatch",
    "PPL factors": "PPL (ELBO) = reconstruction PPL x stop factor x prod over levels of exp(KL_level / tokens); each factor "
    "printed, so a level's cost in perplexity reads directly",
    "label accuracy (1-NN)": "where documents carry labels: the share of documents whose nearest other document by posterior-mean "
    "z_doc (Euclidean) has the same label, leave-one-out; beside it the majority-label share (what a constant guess reaches)",
    "BLEU": "sacrebleu corpus BLEU of greedy reconstructions (all levels at their posterior means) against the source text",
}

AU_THRESHOLDS = (0.001, 0.01, 0.1)


def perplexity(nll: float, count: float) -> float:
    """exp(nll / count), inf rather than an overflow error for a diverged model."""
    try:
        return math.exp(nll / count)
    except OverflowError:
        return float("inf")


# ---------------------------------------------------------------------------------------------
# Pure estimators


def iw_log_likelihood(log_weights: torch.Tensor) -> torch.Tensor:
    """log (1/k) sum_k exp(w_k) over dim 0 of [k, N], computed stably -> [N]."""
    return torch.logsumexp(log_weights.double(), dim=0) - math.log(log_weights.shape[0])


def active_units(posterior_means: torch.Tensor, thresholds=AU_THRESHOLDS) -> tuple[dict[float, int], torch.Tensor]:
    """Active units from posterior means [N, D]: per threshold, dims with variance over units above it."""
    variance = (
        posterior_means.double().var(dim=0, unbiased=True)
        if posterior_means.shape[0] > 1
        else torch.zeros(posterior_means.shape[1])
    )
    return {t: int((variance > t).sum()) for t in thresholds}, variance


def mutual_information(
    posterior: DiagonalGaussian, z: torch.Tensor, chunk: int = 1024, max_elements: int = 2**25
) -> float:
    """I(x; z) ~ E[log q(z|x)] - E[log q(z)], with q(z) = (1/N) sum_n q(z | x_n) over the N units given.

    posterior: [N, D] the units' posteriors; z: [N, D] one sample from each. The aggregate
    posterior is evaluated exactly over all N units (in chunks of at most `chunk` samples, and of
    at most `max_elements` entries per [chunk, N, D] temporary), so the estimate cannot exceed log N.
    """
    mean, log_scale = posterior.mean.double(), posterior.log_scale.double()
    z = z.double()
    n = z.shape[0]
    chunk = max(1, min(chunk, max_elements // max(n * z.shape[1], 1)))
    log_q_conditional = DiagonalGaussian(mean, log_scale).log_prob(z).sum(-1)  # [N]
    log_q_aggregate = []
    for start in range(0, n, chunk):
        block = z[start : start + chunk, None, :]  # [c, 1, D] against all N posteriors
        log_densities = DiagonalGaussian(mean[None], log_scale[None]).log_prob(block).sum(-1)  # [c, N]
        log_q_aggregate.append(torch.logsumexp(log_densities, dim=1) - math.log(n))
    return float(log_q_conditional.mean() - torch.cat(log_q_aggregate).mean())


def other_document_units(level: str, batch: DocBatch) -> torch.Tensor | None:
    """For every unit of `level`, a unit of another document: the next document in the batch
    (cyclically), at the same position (paragraph k, sentence i of paragraph k), clamped to what
    that document has. In-distribution latents with the wrong information, position kept, for
    the information-use metric. None for a batch of one document (there is no other)."""
    B = batch.num_documents
    if B < 2:
        return None
    device = batch.paragraph_document.device
    next_document = (torch.arange(B, device=device) + 1) % B
    if level == "document":
        return next_document
    paragraph_counts = batch.document_paragraphs_mask.sum(1)  # [B]

    def donor_paragraph(paragraph: torch.Tensor) -> torch.Tensor:
        donor = next_document[batch.paragraph_document[paragraph]]
        position = torch.minimum(batch.paragraph_position[paragraph], paragraph_counts[donor] - 1)
        return batch.document_paragraphs[donor, position]

    if level == "paragraph":
        return donor_paragraph(torch.arange(batch.num_paragraphs, device=device))
    paragraph = donor_paragraph(batch.sentence_paragraph)  # [N_sen]
    sentence_counts = batch.paragraph_sentences_mask.sum(1)  # [N_par]
    position = torch.minimum(batch.sentence_position, sentence_counts[paragraph] - 1)
    return batch.paragraph_sentences[paragraph, position]


def information_use_nll(
    model: DocHVAE, batch: DocBatch, z: dict[str, torch.Tensor], own_nll: float | None = None
) -> dict[str, float]:
    """Per level, reconstruction NLL of the batch (nats, summed) with that level's decoder latents
    taken from other documents' units (`other_document_units`), the other levels' kept; and the
    NLL with all its own latents under "own" (`own_nll` when the caller has it already, from the
    same z in eval mode). Empty for a batch of one document."""
    if batch.num_documents < 2:
        return {}
    result = {"own": float(model.decoder(batch, z).nll.sum()) if own_nll is None else own_nll}
    for level in z:
        swapped = {**z, level: z[level][other_document_units(level, batch)]}
        result[level] = float(model.decoder(batch, swapped).nll.sum())
    return result


def nearest_neighbour_label_accuracy(latents: torch.Tensor, labels: list[str]) -> float:
    """Leave-one-out 1-NN accuracy: the share of rows [N, D] whose nearest other row has the same label."""
    distances = torch.cdist(latents.double(), latents.double())
    distances.fill_diagonal_(float("inf"))
    nearest = distances.argmin(dim=1).tolist()
    return sum(labels[i] == labels[j] for i, j in enumerate(nearest)) / len(labels)


# ---------------------------------------------------------------------------------------------
# Model-facing passes


@dataclass
class EvalSettings:
    iw_samples: int = 100  # k; 0 skips the IW estimate
    iw_chunk: int = 25  # at most this many importance samples per forward pass ...
    iw_max_tokens: int = 32768  # ... and at most this many tokens (copies x documents) in it
    max_tokens: int = 8192  # token budget of a batch of (distinct) documents
    level_use: bool = True  # information use and prior substitution per level
    bleu_documents: int = 0  # greedy reconstructions for BLEU; 0 skips
    seed: int = 0
    latent_map: str | None = (
        None  # "pca" or "umap": 2D maps of the z_doc and z_par posterior means (report["latent_map"]); None skips
    )

    def __post_init__(self):
        if self.latent_map is not None:
            LatentMap(self.latent_map)  # an unknown method, or UMAP without umap-learn, fails here, before the passes


@dataclass(frozen=True)
class Passes:
    """Which model passes an evaluation makes over each batch, besides the one posterior sample
    (the ELBO terms, KL per level and per document); the importance-weighted NLL is asked for by
    `EvalSettings.iw_samples`."""

    posterior_means: bool = True  # parents at their means: active units, 1-NN label accuracy, latent maps
    information_use: bool = True  # each level's latents from other documents
    prior_substitution: bool = True  # each level's latents from its prior


class EvaluationAccumulator:
    """The sums of an evaluation, batch by batch: the one place a metric is accumulated.

    `update(output, batch)` takes the posterior-sample pass; `add_posterior_means`,
    `add_information_use`, `add_prior_substitution` and `add_iw_nll` the other passes of the same
    batch. `compute()` gives the report (docs/metrics.md), `document_scores()` each document's
    NLLs. evaluate() (the final report), validation_metrics() (training's periodic validation) and
    document_nll() (per-document scores, DocHVAEPipeline.score) all fill one.
    """

    def __init__(self, config: DocHVAEConfig, keep_posteriors: bool = True):
        self.levels = list(config.levels)
        self.latent_dims = {level: config.latent_dim(level) for level in self.levels}
        self.totals = defaultdict(float)
        self.kl_units = defaultdict(int)
        self.kl_per_dim = {level: torch.zeros(dim, dtype=torch.float64) for level, dim in self.latent_dims.items()}
        self.posteriors = defaultdict(list) if keep_posteriors else None  # (mean, log_scale, z) of the sample, for MI
        self.means = defaultdict(list)  # posterior means (mean pass), for AU, 1-NN and maps
        self.labels: list[str | None] = []  # per document, in the order of the posterior means
        self.document_ids: list[str] = []  # the same order
        self.paragraph_units = []  # [N_par, 2] per batch: document index (in that order) and position of each paragraph mean
        self.document_elbo, self.document_iw = [], []  # [B] per batch
        self.prior_recon = defaultdict(float)
        self.swapped_recon = defaultdict(float)  # information use: "own" and per level, over batches of >= 2 documents

    def update(self, output, batch: DocBatch) -> None:
        """The one-sample forward pass (`return_latents=True`): counts, ELBO terms, KL per level and per document."""
        if "paragraph" in self.levels:
            position = torch.stack([batch.paragraph_document + len(self.labels), batch.paragraph_position], dim=1)
            self.paragraph_units.append(position.cpu())
        self.labels += batch.labels
        self.document_ids += batch.document_ids
        self.totals["documents"] += batch.num_documents
        self.totals["tokens"] += batch.num_tokens
        self.totals["words"] += float(batch.document_words.sum())
        self.totals["recon_nll"] += float(output.recon_nll)
        self.totals["stop_nll"] += float(output.stop_nll)
        document_kl = torch.zeros(batch.num_documents, dtype=torch.float64, device=output.recon_nll.device)
        for level, out in (output.latents or {}).items():
            self.totals[f"kl/{level}"] += float(out.kl.sum())
            self.kl_per_dim[level] += out.kl.double().sum(0).cpu()
            self.kl_units[level] += out.kl.shape[0]
            document_kl.index_add_(0, batch.unit_document(level), out.kl.sum(-1).double())
            if self.posteriors is not None:
                self.posteriors[level].append((out.posterior.mean.cpu(), out.posterior.log_scale.cpu(), out.z.cpu()))
        self.document_elbo.append(((output.document_recon_nll + output.document_stop_nll).double() + document_kl).cpu())

    def add_posterior_means(self, mean_output) -> None:
        for level, out in mean_output.latents.items():
            self.means[level].append(out.z.cpu())

    def add_information_use(self, swapped: dict[str, float], batch: DocBatch) -> None:
        """`information_use_nll`'s sums for the batch (empty for a batch of one document: not counted)."""
        if not swapped:
            return
        for key, nll in swapped.items():
            self.swapped_recon[key] += nll
        self.swapped_recon["tokens"] += batch.num_tokens
        self.swapped_recon["documents"] += batch.num_documents

    def add_prior_substitution(self, level: str, recon_nll: float) -> None:
        self.prior_recon[level] += recon_nll

    def add_iw_nll(self, nll: torch.Tensor) -> None:
        """[B] importance-weighted NLL of the batch's documents."""
        self.document_iw.append(nll.double().cpu())

    def document_scores(self) -> dict[str, torch.Tensor]:
        """Per document, in the order of the updates: "elbo" (one posterior sample) and, where
        importance-weighted NLLs were added, "iw"."""
        scores = {"elbo": torch.cat(self.document_elbo)}
        if self.document_iw:
            scores["iw"] = torch.cat(self.document_iw)
        return scores

    def compute(self, iw_samples: int = 0) -> dict:
        """The report: totals and PPLs, the IW estimate where added, and per level what its passes measured."""
        report = self._totals_report()
        if self.document_iw:
            report.update(self._iw_report(iw_samples))
        if not self.levels:
            report["note"] = (
                "flat language model: no latents, so the ELBO is the exact NLL and there is no KL, AU, MI or information use"
            )
            return report
        report["per_level"] = {level: self._level_report(level, report["recon_ppl"]) for level in self.levels}
        return report

    def _total_kl(self) -> float:
        return sum(self.totals[f"kl/{level}"] for level in self.levels)

    def _totals_report(self) -> dict:
        totals = self.totals
        documents, tokens, words = totals["documents"], totals["tokens"], totals["words"]
        total_kl = self._total_kl()
        elbo_nll = totals["recon_nll"] + totals["stop_nll"] + total_kl
        report = {
            "definitions": DEFINITIONS,
            "levels": self.levels,
            "documents": int(documents),
            "tokens": int(tokens),
            "words": int(words),
            "nll_elbo_per_document": elbo_nll / documents,
            "nll_elbo_per_token": elbo_nll / tokens,
            "ppl_elbo": perplexity(elbo_nll, tokens),
            "word_ppl_elbo": perplexity(elbo_nll, words) if words else None,
            "recon_nll_per_token": totals["recon_nll"] / tokens,
            "recon_ppl": perplexity(totals["recon_nll"], tokens),
            "stop_nll_per_document": totals["stop_nll"] / documents,
        }
        if self.levels:
            report["rate_per_document"] = total_kl / documents
        # PPL (ELBO) as a product of factors: reconstruction, the stop head, and each level's KL.
        report["ppl_factors"] = {"reconstruction": report["recon_ppl"], "stop": perplexity(totals["stop_nll"], tokens)}
        report["ppl_factors"].update({level: perplexity(totals[f"kl/{level}"], tokens) for level in self.levels})
        return report

    def _iw_report(self, iw_samples: int) -> dict:
        iw_total = float(torch.cat(self.document_iw).sum())
        documents, tokens, words = self.totals["documents"], self.totals["tokens"], self.totals["words"]
        return {
            "iw_samples": iw_samples if self.levels else 1,
            "nll_iw_per_document": iw_total / documents,
            "nll_iw_per_token": iw_total / tokens,
            "ppl_iw": perplexity(iw_total, tokens),
            "word_ppl_iw": perplexity(iw_total, words) if words else None,
        }

    def _level_report(self, level: str, recon_ppl: float) -> dict:
        documents, tokens = self.totals["documents"], self.totals["tokens"]
        kl_total, units, total_kl = self.totals[f"kl/{level}"], self.kl_units[level], self._total_kl()
        entry = {
            "units": units,
            "latent_dim": self.latent_dims[level],
            "kl_per_document": kl_total / documents,
            "kl_per_unit": kl_total / units,
            "kl_per_token": kl_total / tokens,
            "kl_share_of_rate": kl_total / total_kl if total_kl > 0 else 0.0,
            "kl_per_dimension": (self.kl_per_dim[level] / units).tolist(),
        }
        if self.means[level]:
            au, variance = active_units(torch.cat(self.means[level]))
            entry.update(
                active_units=au[0.01],
                active_units_sweep={str(t): n for t, n in au.items()},
                posterior_mean_variance=variance.tolist(),
            )
        if self.posteriors is not None:
            entry.update(self._mutual_information(level, units))
        if level in self.swapped_recon:
            # Over the batches that had another document to take latents from (nearly always all).
            delta = self.swapped_recon[level] - self.swapped_recon["own"]
            entry["information_use_nats_per_document"] = delta / self.swapped_recon["documents"]
            entry["information_use_percent_ppl"] = 100 * (perplexity(delta, self.swapped_recon["tokens"]) - 1)
        if level in self.prior_recon:
            entry["recon_ppl_with_prior"] = perplexity(self.prior_recon[level], tokens)
            entry["prior_substitution_delta_ppl"] = entry["recon_ppl_with_prior"] - recon_ppl
        return entry

    def _mutual_information(self, level: str, units: int) -> dict:
        mean, log_scale, z = (torch.cat(part) for part in zip(*self.posteriors[level]))
        mi = mutual_information(DiagonalGaussian(mean, log_scale), z)
        entry = {"mutual_information": mi, "mutual_information_ceiling": math.log(units)}
        if mi < 0:
            entry["mutual_information_warning"] = (
                f"negative MI estimate ({mi:.3f} nats) with {units} units: too few units for the aggregate posterior q(z); "
                "evaluate on more documents"
            )
            warnings.warn(f"{level}: {entry['mutual_information_warning']}", stacklevel=2)
        return entry


def _batches(dataset, collator: DocCollator, max_tokens: int):
    sampler = TokenBudgetBatchSampler(dataset["num_tokens"], max_tokens=max_tokens, shuffle=False)
    for indices in sampler:
        yield [dataset[i] for i in indices]


def _repeat_features(features: EncoderFeatures, times: int) -> EncoderFeatures:
    """Encoder features of a batch whose documents are repeated `times` (tiled) by the collator."""
    return EncoderFeatures(
        *(None if f is None else f.repeat(times, 1) for f in (features.sentence, features.paragraph, features.document))
    )


def _log_ratio_per_document(output, batch: DocBatch) -> torch.Tensor:
    """[B] sum over units of log p(z_u | parents) - log q(z_u | x, parents), for the sampled z."""
    total = output.document_recon_nll.new_zeros(batch.num_documents, dtype=torch.float64)
    for level, out in output.latents.items():
        ratio = (out.prior.log_prob(out.z) - out.posterior.log_prob(out.z)).sum(-1).double()
        total = total.index_add(0, batch.unit_document(level), ratio)
    return total


def evaluate_batch(
    model: DocHVAE,
    batch: DocBatch,
    accumulator: EvaluationAccumulator,
    passes: Passes,
    rows: list[dict] | None = None,
    collator: DocCollator | None = None,
    settings: EvalSettings | None = None,
) -> None:
    """The passes of one batch (on the model's device) into `accumulator`; with `settings.iw_samples` > 0
    also the importance-weighted NLL, which re-collates the batch's `rows` with `collator`.

    In a fixed order, so that a seeded evaluation draws the same samples whichever passes follow:
    1. one posterior sample: the ELBO terms, KL per level, and the units' posteriors for MI;
    2. posterior means (parents at their means): active units;
    3. level use: one level's decoder latents from other documents (information use), and one
       level from its prior with everything else from the posterior (prior substitution);
    4. importance-weighted NLL: k joint samples, `settings.iw_chunk` copies of the batch per pass.
    """
    levels = model.config.levels
    features = model.encoder(batch) if levels else None
    output = model(batch, return_latents=True, encoder_features=features)
    accumulator.update(output, batch)
    if levels and passes.posterior_means:
        accumulator.add_posterior_means(
            model(batch, latent_mode="mean", return_latents=True, encoder_features=features)
        )
    if levels and passes.information_use:
        z = {level: out.z for level, out in output.latents.items()}
        accumulator.add_information_use(information_use_nll(model, batch, z, own_nll=float(output.recon_nll)), batch)
    for level in levels if passes.prior_substitution else ():
        accumulator.add_prior_substitution(
            level, float(model(batch, prior_levels=(level,), encoder_features=features).recon_nll)
        )
    if settings is not None and settings.iw_samples > 0:
        if not levels:  # a flat LM's NLL is exact
            accumulator.add_iw_nll(output.document_recon_nll + output.document_stop_nll)
        else:
            accumulator.add_iw_nll(_iw_nll(model, rows, batch, features, collator, settings))


@torch.no_grad()
@in_eval_mode
def evaluate(
    model: DocHVAE, dataset, collator: DocCollator, settings: EvalSettings, tokenizer=None, show_progress: bool = True
) -> dict:
    """Every metric of docs/metrics.md over a dataset split; returns a JSON-ready report.

    Seeded by `settings.seed` without touching the caller's random state (training resumes exactly).
    """
    if len(dataset) == 0:
        raise ValueError("the evaluation split is empty")
    started = time.perf_counter()
    passes = Passes(information_use=settings.level_use, prior_substitution=settings.level_use)
    accumulator = EvaluationAccumulator(model.config)
    with _seeded(model, settings.seed):
        for rows in tqdm(
            list(_batches(dataset, collator, settings.max_tokens)), desc="evaluating", disable=not show_progress
        ):
            evaluate_batch(model, collator(rows).to(model.device), accumulator, passes, rows, collator, settings)
    report = accumulator.compute(settings.iw_samples)
    _add_labels_and_maps(report, settings, accumulator)
    if settings.bleu_documents > 0 and tokenizer is not None:
        report["bleu"] = reconstruction_bleu(
            model, dataset, collator, tokenizer, settings.bleu_documents, show_progress
        )
    seconds = time.perf_counter() - started
    report["seconds"] = round(seconds, 1)
    report["documents_per_second"] = round(report["documents"] / seconds, 2)
    return report


@contextmanager
def _seeded(model: DocHVAE, seed: int):
    """The block runs seeded by `seed`; the caller's random state is restored after it (training resumes exactly)."""
    device = model.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _add_labels_and_maps(report: dict, settings: EvalSettings, accumulator: EvaluationAccumulator) -> None:
    """z_doc 1-NN label accuracy where documents carry labels, and the latent maps where asked: both from
    the posterior means of the mean pass, documents in the order of the accumulator's labels and ids."""
    levels, means, labels = report["levels"], accumulator.means, accumulator.labels
    if "document" in levels and None not in labels and len(set(labels)) > 1:
        entry = report["per_level"]["document"]
        entry["label_accuracy_1nn"] = nearest_neighbour_label_accuracy(torch.cat(means["document"]), labels)
        entry["majority_label_share"] = max(labels.count(label) for label in set(labels)) / len(labels)
    if settings.latent_map is not None and set(levels) & set(MAP_LEVELS):
        level_means = {level: torch.cat(means[level]) for level in levels if level in MAP_LEVELS}
        units = torch.cat(accumulator.paragraph_units) if accumulator.paragraph_units else None
        report["latent_map"] = latent_maps(
            level_means, accumulator.document_ids, labels, units, settings.latent_map, settings.seed
        )


def _iw_nll(
    model: DocHVAE,
    rows: list[dict],
    batch: DocBatch,
    features: EncoderFeatures,
    collator: DocCollator,
    settings: EvalSettings,
) -> torch.Tensor:
    """[B] importance-weighted NLL per document from `settings.iw_samples` joint posterior samples."""
    log_weights = []
    copies_per_pass = max(1, min(settings.iw_chunk, settings.iw_max_tokens // max(batch.num_tokens, 1)))
    for start in range(0, settings.iw_samples, copies_per_pass):
        copies = min(copies_per_pass, settings.iw_samples - start)
        repeated = collator(list(rows) * copies).to(batch.document_tokens.device)
        out = model(repeated, return_latents=True, encoder_features=_repeat_features(features, copies))
        log_joint = -(out.document_recon_nll + out.document_stop_nll).double() + _log_ratio_per_document(out, repeated)
        log_weights.append(log_joint.view(copies, batch.num_documents))
    return -iw_log_likelihood(torch.cat(log_weights))


@torch.no_grad()
@in_eval_mode
def document_nll(
    model: DocHVAE, rows: list[dict], collator: DocCollator, settings: EvalSettings
) -> dict[str, torch.Tensor]:
    """Per document of `rows` (nats, [B] each): "elbo", the negative ELBO of one posterior sample,
    and with `settings.iw_samples` > 0 "iw", the importance-weighted NLL (a flat LM's exact NLL
    for both). Batched by `settings.max_tokens`; seeded by `settings.seed` (caller's random state kept)."""
    passes = Passes(posterior_means=False, information_use=False, prior_substitution=False)
    accumulator = EvaluationAccumulator(model.config, keep_posteriors=False)
    sampler = TokenBudgetBatchSampler(
        [row["num_tokens"] for row in rows], max_tokens=settings.max_tokens, shuffle=False
    )
    order = [i for indices in sampler for i in indices]
    with _seeded(model, settings.seed):
        for indices in sampler:
            chunk = [rows[i] for i in indices]
            evaluate_batch(model, collator(chunk).to(model.device), accumulator, passes, chunk, collator, settings)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return {name: scores[inverse] for name, scores in accumulator.document_scores().items()}


@torch.no_grad()
def reconstruction_bleu(
    model: DocHVAE, dataset, collator: DocCollator, tokenizer, num_documents: int, show_progress: bool = False
) -> dict:
    """Corpus BLEU (sacrebleu) of greedy reconstructions against the source documents."""
    device = model.device
    rows = [dataset[i] for i in range(min(num_documents, len(dataset)))]
    hypotheses, references = [], []
    greedy = SamplingConfig(temperature=0.0, max_paragraphs=64, max_sentences=64, max_tokens=512)
    for start in tqdm(range(0, len(rows), 8), desc="reconstruction BLEU", unit="batch of 8", disable=not show_progress):
        chunk = rows[start : start + 8]
        batch = collator(chunk).to(device)
        if model.config.levels:
            generated = reconstruct(model, batch, greedy)
        else:  # a flat LM has nothing to reconstruct from: its greedy continuation of <s>
            generated = sample_prior(model, len(chunk), greedy)
        hypotheses += [document_text(doc, tokenizer).replace("\n\n", " ") for doc in generated]
        references += [row_text(row, tokenizer).replace("\n\n", " ") for row in chunk]
    metric = sacrebleu.BLEU()
    bleu = metric.corpus_score(hypotheses, [references])
    return {"bleu": bleu.score, "documents": len(rows), "signature": str(metric.get_signature())}


@torch.no_grad()
@in_eval_mode
def validation_metrics(model: DocHVAE, batches: list[DocBatch]) -> dict[str, float]:
    """The cheap periodic validation of training: ELBO and recon PPL, and per level the KL per
    document, active units and information use (nats per document)."""
    accumulator, passes = EvaluationAccumulator(model.config, keep_posteriors=False), Passes(prior_substitution=False)
    for batch in batches:
        evaluate_batch(model, batch, accumulator, passes)
    report = accumulator.compute()
    metrics = {
        "val/nll_elbo_per_token": report["nll_elbo_per_token"],
        "val/ppl_elbo": report["ppl_elbo"],
        "val/recon_ppl": report["recon_ppl"],
    }
    for level, entry in report.get("per_level", {}).items():
        metrics[f"val/kl/{level}"] = entry["kl_per_document"]
        metrics[f"val/active_units/{level}"] = entry["active_units"]
        if "information_use_nats_per_document" in entry:
            metrics[f"val/information_use/{level}"] = entry["information_use_nats_per_document"]
    return metrics


def format_report(report: dict, title: str = "Evaluation") -> str:
    """A Markdown report: the numbers, then the definitions they follow."""
    lines = [f"## {title}", "", "| metric | value |", "|---|---|"]
    for key in (
        "documents",
        "tokens",
        "words",
        "nll_elbo_per_document",
        "nll_elbo_per_token",
        "ppl_elbo",
        "word_ppl_elbo",
        "nll_iw_per_document",
        "nll_iw_per_token",
        "ppl_iw",
        "word_ppl_iw",
        "iw_samples",
        "recon_ppl",
        "rate_per_document",
        "seconds",
    ):
        if report.get(key) is not None:
            value = report[key]
            lines.append(f"| {key} | {value:,.3f} |" if isinstance(value, float) else f"| {key} | {value:,} |")
    document = (report.get("per_level") or {}).get("document", {})
    if "label_accuracy_1nn" in document:
        lines.append(
            f"| z_doc label accuracy (1-NN; majority share {document['majority_label_share']:.3f}) | {document['label_accuracy_1nn']:.3f} |"
        )
    if "bleu" in report:
        lines.append(f"| reconstruction BLEU ({report['bleu']['documents']} docs) | {report['bleu']['bleu']:.2f} |")
    if report.get("note"):
        lines += ["", report["note"]]
    if report.get("ppl_factors") and report.get("per_level"):
        factors = " x ".join(f"{name} {value:,.3f}" for name, value in report["ppl_factors"].items())
        lines += ["", f"PPL (ELBO) {report['ppl_elbo']:,.3f} = {factors}"]
    if report.get("per_level"):
        lines += [
            "",
            "| level | KL/doc | KL/unit | KL/token | share | AU (0.01) | AU sweep | MI | log N | information use (nats/doc, % PPL) | prior substitution (dPPL) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for level, e in report["per_level"].items():
            sweep = "/".join(str(n) for n in e["active_units_sweep"].values())
            use = (
                f"{e['information_use_nats_per_document']:.3f} ({e['information_use_percent_ppl']:.2f}%)"
                if "information_use_nats_per_document" in e
                else "-"
            )
            prior = f"{e['prior_substitution_delta_ppl']:.3f}" if "prior_substitution_delta_ppl" in e else "-"
            lines.append(
                f"| {level} | {e['kl_per_document']:.2f} | {e['kl_per_unit']:.3f} | {e['kl_per_token']:.4f} | {e['kl_share_of_rate']:.2f} | "
                f"{e['active_units']}/{e['latent_dim']} | {sweep} | {e['mutual_information']:.3f} | {e['mutual_information_ceiling']:.2f} | {use} | {prior} |"
            )
    for level, e in (report.get("per_level") or {}).items():
        if "mutual_information_warning" in e:
            lines += ["", f"Warning ({level}): {e['mutual_information_warning']}"]
    lines += ["", "Definitions:", ""] + [f"- **{name}**: {text}" for name, text in report["definitions"].items()]
    return "\n".join(lines)


def definitions_markdown() -> str:
    """docs/metrics.md, generated from DEFINITIONS and style.DEFINITION (tests/test_docs.py keeps the two equal)."""
    from .style import DEFINITION as STYLE_CONSISTENCY  # style imports scikit-learn: only when asked

    escaped_bar = "\\|"  # a literal | inside a Markdown table cell
    thresholds = ", ".join(str(t) for t in AU_THRESHOLDS)
    return "\n".join(
        [
            "# Metrics",
            "",
            "<!-- Generated from doc_hvae.evaluation.DEFINITIONS and doc_hvae.style.DEFINITION: edit those, then run",
            "     python -c 'import doc_hvae.evaluation as e; "
            'open("docs/metrics.md", "w").write(e.definitions_markdown())\' -->',
            "",
            "One definition each, printed with every report (`report.json`, `report.md`). Active units are counted at the",
            f"thresholds {thresholds} (the report's AU sweep). The estimators are tested against closed forms on",
            "linear-Gaussian hierarchical models (`tests/test_estimators.py`).",
            "",
            "| metric | definition |",
            "|---|---|",
            *(f"| {name} | {text.replace('|', escaped_bar)} |" for name, text in DEFINITIONS.items()),
            "",
            "## Style consistency",
            "",
            "`recipes/generate_docs.py --mode style-consistency` (`doc_hvae.style`):",
            "",
            *(f"- {line}" for line in STYLE_CONSISTENCY.splitlines()),
            "",
        ]
    )
