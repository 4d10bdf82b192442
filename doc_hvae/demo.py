"""A demo page over DocHVAEPipeline (Gradio, the `demo` extra: pip install -e ".[demo]").

    doc-hvae-demo --model outputs/wikitext2/final                      # http://127.0.0.1:7860
    doc-hvae-demo --model M --data data/prepared/wikitext2 --port 7861 --max-documents 4

Tabs: Style (documents in the style of a pasted text, or of a window of the prepared test split),
Interpolate and Swap (two texts), Sample (the prior), Continue (the paragraphs after a prefix) and
Inspect (NLL and perplexity, KL per level, the nearest training windows by z_doc and the text's
place on the z_doc map of those windows). The prepared corpus is --data or the model's training
corpus (its train_config.yaml); without one, the reference picker, the neighbours and the map are off.

The page runs offline: no analytics or version check, system fonts, nothing fetched from elsewhere.
Every request is bounded (documents, tokens per document, characters per text, interpolation steps,
importance samples) by the --max-* flags; a request over a bound is refused with a message that
names the value, the limit and the flag. The page is `build_demo(pipe, limits, corpus)`; its handlers
are the methods of `DemoHandlers`, plain functions of strings and numbers that return text.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from dataclasses import dataclass, field, fields

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry, no online version check

try:
    import gradio as gr
except ImportError as error:
    raise ImportError(
        "doc-hvae-demo needs gradio: pip install -e '.[demo]' (or pip install 'doc_hvae[demo]')"
    ) from error
import torch  # noqa: E402

from .cli import HelpFormatter, parse_args_with_config, run_cli  # noqa: E402
from .data.prepare import PreparedCorpus  # noqa: E402
from .generation import DOCUMENT_PRIORS, posterior_latents, row_text  # noqa: E402
from .latent_map import LatentMap, latent_maps  # noqa: E402
from .modeling.loading import prepared_dir_of  # noqa: E402
from .pipeline import DocHVAEPipeline, GeneratedText  # noqa: E402
from .style import spread_references  # noqa: E402

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
REFERENCE_CHOICES = 200  # test windows offered by the reference picker (spread over the split)
ENCODE_BATCH = 32  # training windows per forward pass when building the neighbour index
MAX_NEIGHBOURS = 20


@dataclass
class DemoLimits:
    """What one request may ask for; each field is a flag of doc-hvae-demo (max_documents: --max-documents)."""

    max_documents: int = field(default=8, metadata={"help": "documents per request (style, sample, continue)"})
    max_tokens: int = field(default=400, metadata={"help": "tokens per generated document"})
    max_chars: int = field(default=20_000, metadata={"help": "characters per input text"})
    max_steps: int = field(default=9, metadata={"help": "interpolation steps per request, endpoints included"})
    max_iw_samples: int = field(default=100, metadata={"help": "importance samples per window when scoring (Inspect)"})

    def __post_init__(self):
        values = {limit.name: getattr(self, limit.name) for limit in fields(self)}
        bad = [
            f"{name}={value!r}"
            for name, value in values.items()
            if isinstance(value, bool) or not isinstance(value, int) or value < 1
        ]
        if bad:
            raise ValueError(f"demo limits {', '.join(bad)}; give positive ints")


def bounded(name: str, value, limit: int, flag: str | None, low: int = 1) -> int:
    """`value` (a whole number; sliders send floats) as an int in [low, limit], or a gr.Error naming the value, the
    limit and the flag that sets it (None: a fixed limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise gr.Error(f"{name}={value!r}; give a whole number")
    value = int(value)
    if value < low:
        raise gr.Error(f"{name}={value}; give at least {low}")
    if value > limit:
        raise gr.Error(
            f"{name}={value} is over this demo's limit of {limit}"
            + (f" (set by doc-hvae-demo --{flag})" if flag else "")
        )
    return value


def shows_errors(handler):
    """The library's errors for bad input (ValueError, TypeError: messages that name the value and the fix) as
    gr.Error, which the page shows as written (other exceptions reach the page as a bare "Error")."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (ValueError, TypeError) as error:
            raise gr.Error(str(error)) from error

    return wrapper


def format_documents(generated: list[GeneratedText], heading) -> str:
    """Each document under `=== heading(index, document) ===`, its paragraphs numbered and separated by blank lines."""
    blocks = []
    for index, document in enumerate(generated):
        paragraphs = (
            "\n\n".join(f"[{j + 1}] {paragraph}" for j, paragraph in enumerate(document.paragraphs))
            or "(no paragraphs)"
        )
        blocks.append(f"=== {heading(index, document)} ===\n{paragraphs}")
    return "\n\n".join(blocks)


class DemoHandlers:
    """What each tab does, over one DocHVAEPipeline: plain functions of the page's values that return text
    (Inspect: text and a map image). Bad requests raise gr.Error with the reason."""

    def __init__(
        self,
        pipe: DocHVAEPipeline,
        limits: DemoLimits | None = None,
        corpus: PreparedCorpus | None = None,
        index_windows: int = 500,
    ):
        self.pipe, self.limits, self.corpus, self.index_windows = pipe, limits or DemoLimits(), corpus, index_windows
        self.levels = tuple(pipe.model.config.levels)
        split = (
            None if corpus is None else next((name for name in ("test", "validation") if name in corpus.dataset), None)
        )
        self.references = [] if split is None else spread_references(corpus.dataset[split], REFERENCE_CHOICES)
        self.reference_split = split

    # ------------------------------------------------------------------ inputs
    def text(self, name: str, text) -> str:
        text = (text or "").strip()
        if not text:
            raise gr.Error(f"{name} is empty; paste a text (paragraphs separated by blank lines)")
        if len(text) > self.limits.max_chars:
            raise gr.Error(
                f"{name} has {len(text)} characters, over this demo's limit of {self.limits.max_chars} (set by doc-hvae-demo --max-chars)"
            )
        return text

    def sampling(self, temperature, top_p, latent: dict, guidance, max_tokens, seed) -> dict:
        """Keyword arguments of the pipeline's generation methods from the page's controls: the latent temperatures
        of `latent` (level -> value) for the model's levels, document guidance where the model has that level."""
        settings = {
            "temperature": float(temperature),
            "top_p": float(top_p),
            "seed": bounded("seed", seed, 2**31 - 1, None, low=0),
            "latent_temperature": {level: float(value) for level, value in latent.items() if level in self.levels},
            "max_new_tokens": bounded("tokens per document", max_tokens, self.limits.max_tokens, "max-tokens"),
        }
        if "document" in self.levels and float(guidance) != 1.0:
            settings["guidance"] = {"document": float(guidance)}
        return settings

    def notes(self, text: str) -> str:
        """`text`, and what segmentation and windowing cut from the last call's texts (the pipeline's report)."""
        return text + (f"\n\n(input cut or skipped: {self.pipe.report.format()})" if self.pipe.report.counts else "")

    def reference_choices(self) -> list[str]:
        return [
            f"{index}: {row.get('id')}" + (f" ({row['label']})" if row.get("label") else "")
            for index, row in enumerate(self.references)
        ]

    def reference_text(self, choice: str) -> str:
        """The text of a picked window of the prepared split (a choice of `reference_choices`)."""
        if not choice:
            return ""
        index = int(str(choice).partition(":")[0])
        if not 0 <= index < len(self.references):
            raise gr.Error(f"reference {choice!r}: pick one of the {len(self.references)} listed windows")
        return row_text(self.references[index], self.pipe.tokenizer)

    # ------------------------------------------------------------------ generation tabs
    @shows_errors
    def style(
        self,
        text,
        documents,
        temperature,
        top_p,
        latent_paragraph,
        latent_sentence,
        guidance,
        max_tokens,
        seed,
        shared_noise,
    ) -> str:
        text = self.text("text", text)
        count = bounded("documents", documents, self.limits.max_documents, "max-documents")
        sampling = self.sampling(
            temperature, top_p, {"paragraph": latent_paragraph, "sentence": latent_sentence}, guidance, max_tokens, seed
        )
        generated = self.pipe.generate_in_style([text], per_text=count, shared_noise=bool(shared_noise), **sampling)
        return self.notes(
            format_documents(generated, lambda index, _: f"document {index + 1} in the style of the text")
        )

    @shows_errors
    def sample(
        self,
        documents,
        temperature,
        top_p,
        latent_document,
        latent_paragraph,
        latent_sentence,
        guidance,
        max_tokens,
        seed,
        document_prior="trained",
    ) -> str:
        """`document_prior`: where z_doc comes from, "trained" (N(0, I)) or "fitted" (the mixture saved beside the model)."""
        count = bounded("documents", documents, self.limits.max_documents, "max-documents")
        latent = {"document": latent_document, "paragraph": latent_paragraph, "sentence": latent_sentence}
        sampling = self.sampling(temperature, top_p, latent, guidance, max_tokens, seed)
        generated = self.pipe.sample(count, document_prior=document_prior, **sampling)
        return format_documents(generated, lambda index, _: f"prior sample {index + 1}")

    @shows_errors
    def continue_text(
        self, prefix, documents, temperature, top_p, latent_paragraph, latent_sentence, guidance, max_tokens, seed
    ) -> str:
        prefix = self.text("prefix", prefix)
        count = bounded("continuations", documents, self.limits.max_documents, "max-documents")
        sampling = self.sampling(
            temperature, top_p, {"paragraph": latent_paragraph, "sentence": latent_sentence}, guidance, max_tokens, seed
        )
        generated = self.pipe.continue_text([prefix], per_text=count, **sampling)
        return self.notes(
            format_documents(generated, lambda index, _: f"continuation {index + 1} (the paragraphs after the prefix)")
        )

    @shows_errors
    def interpolate(
        self,
        first,
        second,
        level,
        steps,
        temperature,
        top_p,
        latent_paragraph,
        latent_sentence,
        guidance,
        max_tokens,
        seed,
        shared_noise,
    ) -> str:
        first, second = self.text("first text", first), self.text("second text", second)
        steps = bounded("steps", steps, self.limits.max_steps, "max-steps", low=2)
        sampling = self.sampling(
            temperature, top_p, {"paragraph": latent_paragraph, "sentence": latent_sentence}, guidance, max_tokens, seed
        )
        generated = self.pipe.interpolate(
            first, second, level=level, steps=steps, shared_noise=bool(shared_noise), **sampling
        )
        return self.notes(
            format_documents(
                generated,
                lambda _, doc: (
                    f"step {doc.step + 1} of {steps}: {level} weight {doc.step / (steps - 1):.2f} toward the second"
                ),
            )
        )

    @shows_errors
    def swap(
        self,
        first,
        second,
        temperature,
        top_p,
        latent_paragraph,
        latent_sentence,
        guidance,
        max_tokens,
        seed,
        shared_noise,
    ) -> str:
        texts = [self.text("first text", first), self.text("second text", second)]
        sampling = self.sampling(
            temperature, top_p, {"paragraph": latent_paragraph, "sentence": latent_sentence}, guidance, max_tokens, seed
        )
        generated = self.pipe.swap(texts, shared_noise=bool(shared_noise), **sampling)
        names = ("first", "second")
        return self.notes(
            format_documents(
                generated,
                lambda _, doc: (
                    f"the {names[doc.reference]} text's paragraphs and sentences "
                    f"with the {names[1 - doc.reference]} text's z_doc"
                ),
            )
        )

    # ------------------------------------------------------------------ inspect
    @shows_errors
    def inspect(self, text, iw_samples, neighbours):
        """The text's NLL and perplexity (every window), its KL per level, its nearest training windows by z_doc and
        the z_doc map with the text on it: (report text, map image or None)."""
        text = self.text("text", text)
        iw_samples = bounded("importance samples", iw_samples, self.limits.max_iw_samples, "max-iw-samples", low=0)
        neighbours = bounded("neighbours", neighbours, MAX_NEIGHBOURS, None, low=0)
        score = self.pipe.score([text], iw_samples=iw_samples)[0]
        lines = [
            f"{score['tokens']} tokens in {score['windows']} window(s)",
            f"NLL (ELBO bound): {score['nll_elbo']:.2f} nats, perplexity {score['ppl_elbo']:.2f}",
        ]
        if "nll_iw" in score:
            lines.append(
                f"NLL (importance-weighted, {iw_samples} samples): {score['nll_iw']:.2f} nats, perplexity {score['ppl_iw']:.2f}"
            )
        kl = self.kl_per_level(text)
        if kl:
            lines.append(
                "KL per level (nats, parents at their posterior means): "
                + ", ".join(f"{level} {value:.2f}" for level, value in kl.items())
            )
        image = None
        index = self.training_index
        if index is None:
            lines.append(
                "\nNearest training windows: none (no prepared corpus, no document level, or --index-windows 0)"
            )
        else:
            z_doc = self.pipe.encode([text], long_text="mean").document[0].cpu()
            lines += ["", *self.nearest(z_doc, neighbours)]
            image = self.map_image(z_doc)
        return self.notes("\n".join(lines)), image

    def kl_per_level(self, text: str) -> dict[str, float]:
        """KL(q || p) per level summed over the units of every window of `text`, parents at their posterior means
        (the pipeline's `score` gives the bound, not its terms)."""
        if not self.levels:
            return {}
        rows = [row for windows in self.pipe.windows([text]) for row in windows]
        with torch.inference_mode():
            output = self.pipe.model(self.pipe.collator(rows).to(self.pipe.device), latent_mode="mean")
        return {level: float(kl.sum()) for level, kl in (output.kl or {}).items()}

    def nearest(self, z_doc: torch.Tensor, count: int) -> list[str]:
        index = self.training_index
        distances = torch.cdist(z_doc[None].double(), index["means"].double())[0]
        lines = [
            f"Nearest of {len(index['ids'])} training windows by z_doc (Euclidean distance between posterior means):"
        ]
        for rank, i in enumerate(distances.argsort()[:count].tolist()):
            label = f" ({index['labels'][i]})" if index["labels"][i] is not None else ""
            excerpt = " ".join(index["texts"][i].split())[:160]
            lines.append(f"{rank + 1}. {index['ids'][i]}{label}, distance {float(distances[i]):.3f}: {excerpt}")
        return lines

    @functools.cached_property
    def training_index(self) -> dict | None:
        """Posterior-mean z_doc of up to `index_windows` training windows (spread over the split), with their ids,
        labels, texts and z_doc map; None without a corpus, a train split or a document level."""
        if (
            self.corpus is None
            or "train" not in self.corpus.dataset
            or "document" not in self.levels
            or self.index_windows < 1
        ):
            return None
        started = time.perf_counter()
        rows = spread_references(self.corpus.dataset["train"], self.index_windows)
        means = []
        with torch.inference_mode():
            for start in range(0, len(rows), ENCODE_BATCH):
                batch = self.pipe.collator(rows[start : start + ENCODE_BATCH]).to(self.pipe.device)
                means.append(posterior_latents(self.pipe.model, batch, "mean")["document"].cpu())
        means = torch.cat(means)
        ids, labels = [str(row.get("id")) for row in rows], [row.get("label") for row in rows]
        entry = latent_maps({"document": means}, ids, labels)["document"]
        print(
            f"Encoded {len(rows)} training windows for the neighbours and the z_doc map in {time.perf_counter() - started:.1f} s"
        )
        return {
            "means": means,
            "ids": ids,
            "labels": labels,
            "texts": [row_text(row, self.pipe.tokenizer) for row in rows],
            "map": entry,
        }

    def map_image(self, z_doc: torch.Tensor):
        """The z_doc map of the training windows (PCA, coloured by label) with the text as a star: a PIL image, or
        None where the index has too few windows for a map."""
        import matplotlib.pyplot as plt
        from PIL import Image

        from .plots import latent_map_figure

        entry = self.training_index["map"]
        if "points" not in entry:
            return None
        x, y = LatentMap.from_dict(entry["projection"]).transform(z_doc[None])[0]
        axes = tuple(
            f"PC{i + 1} ({100 * share:.0f}% of variance)"
            for i, share in enumerate(entry["projection"]["explained_variance_ratio"])
        )
        figure = latent_map_figure(entry, f"z_doc of {len(entry['points'])} training windows, and this text", axes)
        figure.axes[0].scatter([x], [y], marker="*", s=300, color="black", edgecolors="white", zorder=3)
        figure.axes[0].annotate("this text", (x, y), textcoords="offset points", xytext=(8, 8), fontweight="bold")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        plt.close(figure)
        return Image.open(io.BytesIO(buffer.getvalue()))


# ---------------------------------------------------------------------- the page
def sampling_controls(handlers: DemoHandlers, latent_levels: tuple[str, ...]) -> list:
    """Token temperature, top-p, a latent temperature per level of `latent_levels` (hidden for a level the model
    lacks), the document guidance scale, tokens per document and the seed, in the handlers' argument order."""
    defaults, limits = handlers.pipe.sampling, handlers.limits
    latent_defaults = defaults.latent_temperature if isinstance(defaults.latent_temperature, dict) else {}
    with gr.Accordion("Sampling", open=False):
        with gr.Row():
            temperature = gr.Slider(0, 2, value=defaults.temperature, step=0.05, label="token temperature (0 = greedy)")
            top_p = gr.Slider(0.05, 1, value=defaults.top_p, step=0.05, label="top-p")
            max_tokens = _bounded_number("tokens per document", 200, limits.max_tokens)
        with gr.Row():
            latent = [
                gr.Slider(
                    0,
                    2,
                    value=latent_defaults.get(level, 1.0),
                    step=0.05,
                    label=f"latent temperature: {level}",
                    visible=level in handlers.levels,
                )
                for level in latent_levels
            ]
            guidance = gr.Slider(
                1,
                10,
                value=defaults.guidance.get("document", 1.0),
                step=0.5,
                label="guidance scale: document (1 = unguided)",
                visible="document" in handlers.levels,
            )
            seed = gr.Number(value=0, precision=0, label="seed")
    return [temperature, top_p, *latent, guidance, max_tokens, seed]


def _text(label: str, limits: DemoLimits, lines: int = 6, elem_id: str | None = None) -> gr.Textbox:
    return gr.Textbox(
        label=label,
        lines=lines,
        max_length=limits.max_chars,
        placeholder="paragraphs separated by blank lines",
        elem_id=elem_id,
    )


def _bounded_number(label: str, value: int, limit: int) -> gr.Number:
    """A whole number whose bound the handler checks, not the component: a slider's own bound check would answer
    an API call with a message that names neither the input nor the flag that sets the limit."""
    return gr.Number(value=min(value, limit), precision=0, label=f"{label} (at most {limit})")


def _count(label: str, limits: DemoLimits) -> gr.Number:
    return _bounded_number(label, 3, limits.max_documents)


def _output(elem_id: str | None = None) -> gr.Textbox:
    return gr.Textbox(label="generated", lines=16, buttons=["copy"], elem_id=elem_id)


def _style_tab(handlers: DemoHandlers) -> None:
    text = _text("text", handlers.limits, elem_id="style-text")  # elem_ids: what the browser test finds
    if handlers.references:
        picker = gr.Dropdown(
            handlers.reference_choices(),
            value=None,
            label=f"or pick a window of the prepared {handlers.reference_split} split",
        )
        picker.change(handlers.reference_text, picker, text, api_name="reference")
    documents = _count("documents", handlers.limits)
    controls = sampling_controls(handlers, ("paragraph", "sentence"))
    shared = gr.Checkbox(label="shared noise (the k-th document of every text draws the same randomness)")
    button = gr.Button("Generate in this style", variant="primary", elem_id="style-generate")
    output = _output(elem_id="style-output")
    button.click(handlers.style, [text, documents, *controls, shared], output, api_name="style")


def _two_text_tabs(handlers: DemoHandlers) -> None:
    with gr.Tab("Interpolate"):
        with gr.Row():
            first, second = _text("first text", handlers.limits), _text("second text", handlers.limits)
        level = gr.Radio(list(handlers.levels), value=handlers.levels[0], label="level")
        steps = _bounded_number("steps, endpoints included", 5, handlers.limits.max_steps)
        controls = sampling_controls(handlers, ("paragraph", "sentence"))
        shared = gr.Checkbox(label="shared noise (the steps differ only by the interpolated latents)")
        button, output = gr.Button("Interpolate", variant="primary"), _output()
        button.click(
            handlers.interpolate, [first, second, level, steps, *controls, shared], output, api_name="interpolate"
        )
    if "document" not in handlers.levels:
        return
    with gr.Tab("Swap"):
        with gr.Row():
            first, second = _text("first text", handlers.limits), _text("second text", handlers.limits)
        controls = sampling_controls(handlers, ("paragraph", "sentence"))
        shared = gr.Checkbox(label="shared noise (both documents draw the same randomness)")
        button, output = gr.Button("Swap z_doc", variant="primary"), _output()
        button.click(handlers.swap, [first, second, *controls, shared], output, api_name="swap")


def _sample_and_continue_tabs(handlers: DemoHandlers) -> None:
    with gr.Tab("Sample"):
        documents = _count("documents", handlers.limits)
        controls = sampling_controls(handlers, ("document", "paragraph", "sentence"))
        fitted = handlers.pipe.model.fitted_document_prior is not None
        document_prior = gr.Radio(
            list(DOCUMENT_PRIORS),
            value=handlers.pipe.sampling.document_prior if fitted else "trained",
            label="z_doc from: the trained prior N(0, I), or the prior fitted to the training windows' z_doc",
            visible=fitted,
        )
        button, output = gr.Button("Sample from the prior", variant="primary"), _output()
        button.click(handlers.sample, [documents, *controls, document_prior], output, api_name="sample")
    if "document" not in handlers.levels or handlers.pipe.model.config.decoder_context == "document":
        return  # continuation starts from the prefix's z_doc (generation.continuation_plan)
    with gr.Tab("Continue"):
        prefix = _text("prefix", handlers.limits)
        documents = _count("continuations", handlers.limits)
        controls = sampling_controls(handlers, ("paragraph", "sentence"))
        button, output = gr.Button("Continue", variant="primary"), _output()
        button.click(handlers.continue_text, [prefix, documents, *controls], output, api_name="continue")


def _inspect_tab(handlers: DemoHandlers) -> None:
    text = _text("text", handlers.limits)
    with gr.Row():
        iw_samples = _bounded_number("importance samples, 0 = the ELBO only", 20, handlers.limits.max_iw_samples)
        neighbours = gr.Slider(0, MAX_NEIGHBOURS, value=5, step=1, label="nearest training windows")
    button = gr.Button("Inspect", variant="primary")
    with gr.Row():
        report = gr.Textbox(label="score, KL and neighbours", lines=16)
        image = gr.Image(label="z_doc map", type="pil")
    button.click(handlers.inspect, [text, iw_samples, neighbours], [report, image], api_name="inspect")


def build_demo(
    pipe: DocHVAEPipeline,
    limits: DemoLimits | None = None,
    corpus: PreparedCorpus | None = None,
    index_windows: int = 500,
    index_now: bool = False,
) -> gr.Blocks:
    """The page over `pipe`: a tab per use (those the model's levels allow), requests bounded by `limits`.
    `corpus`: the prepared corpus for the reference picker and the neighbour index (`index_windows` training
    windows, encoded on the first Inspect request, or here with `index_now`)."""
    handlers = DemoHandlers(pipe, limits, corpus, index_windows)
    if index_now:
        handlers.training_index  # noqa: B018 (a cached property: encode the training windows at startup)
    config = pipe.model.config
    with gr.Blocks(title="doc_hvae demo", analytics_enabled=False) as demo:
        gr.Markdown(
            f"## doc_hvae demo\nA DocHVAE with levels {list(config.levels) or 'none (a flat LM)'}, decoder context "
            f"`{config.decoder_context}`. Texts: paragraphs separated by blank lines; at most {handlers.limits.max_chars} characters."
        )
        if "document" in config.levels:
            with gr.Tab("Style"):
                _style_tab(handlers)
        if config.levels:
            _two_text_tabs(handlers)
        _sample_and_continue_tabs(handlers)
        with gr.Tab("Inspect"):
            _inspect_tab(handlers)
    demo.handlers = handlers  # for callers that want the plain functions behind the page
    return demo.queue(default_concurrency_limit=1)  # one model, one request at a time


def launch_demo(demo: gr.Blocks, port: int = 7860, host: str = "127.0.0.1", block: bool = True):
    """Serve the page offline: system fonts (no web fonts), no share link, no server-side rendering (Node)."""
    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    return demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        prevent_thread_lock=not block,
        theme=theme,
        quiet=not block,
    )


# ---------------------------------------------------------------------- the command
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        "--model", required=True, help="an export folder (output_dir/final of a training run) or a Hub id in the cache"
    )
    parser.add_argument(
        "--data",
        default=None,
        help="prepared corpus for the reference picker and the neighbours (default: the model's training corpus)",
    )
    parser.add_argument("--port", type=int, default=7860, help="the port to serve on")
    parser.add_argument("--host", default="127.0.0.1", help="the address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda where available)")
    parser.add_argument(
        "--index-windows",
        type=int,
        default=500,
        help="training windows encoded at startup for the neighbours and the map (0: none)",
    )
    for limit in fields(DemoLimits):
        parser.add_argument(
            "--" + limit.name.replace("_", "-"),
            type=int,
            default=limit.default,
            help=f"at most this many {limit.metadata['help']}",
        )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parse_args_with_config(parser, argv)


def load_corpus(args, pipe: DocHVAEPipeline) -> PreparedCorpus | None:
    """--data (an error where it is not a prepared corpus of the model's tokenizer), else the model's training
    corpus where it is still there, else None (the page goes on without references and neighbours)."""
    if args.data is None:
        try:
            path = prepared_dir_of(args.model)
            corpus = PreparedCorpus(path)
        except (OSError, KeyError, TypeError):
            print("No prepared corpus (pass --data): the reference picker, the neighbours and the z_doc map are off")
            return None
    else:
        path, corpus = args.data, PreparedCorpus(args.data)
    if corpus.tokenizer.get_vocab() != pipe.tokenizer.get_vocab():
        raise ValueError(
            f"the prepared corpus {str(path)!r} has another tokenizer than the model {args.model!r}; pass the corpus it was trained on with --data"
        )
    return corpus


def main(argv=None) -> None:
    args = parse_args(argv)
    limits = DemoLimits(**{limit.name: getattr(args, limit.name) for limit in fields(DemoLimits)})
    if args.index_windows < 0:
        raise ValueError(f"--index-windows {args.index_windows}; give 0 (no neighbours or map) or more")
    pipe = DocHVAEPipeline.from_pretrained(args.model, device=args.device)
    corpus = load_corpus(args, pipe)
    demo = build_demo(pipe, limits, corpus, args.index_windows, index_now=True)
    print(f"Serving {args.model} on http://{args.host}:{args.port} (offline; limits: {limits})")
    launch_demo(demo, args.port, args.host)


def run(argv=None) -> None:
    """The console script (`doc-hvae-demo`): `main` with readable errors."""
    run_cli(main, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    run()
