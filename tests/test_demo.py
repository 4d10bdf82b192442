"""The demo page (`doc-hvae-demo`, doc_hvae/demo.py) over a tiny untrained export: its handlers as plain
functions, the bounds on a request, the command's errors, and the served app through gradio_client.

Needs the `demo` extra (gradio); skipped without it. The page itself, in headless Chromium:
tests/test_demo_browser.py.
"""

from __future__ import annotations

import shutil
import socket
import urllib.request

import pytest
import torch

gr = pytest.importorskip("gradio", reason="the demo needs the demo extra: pip install -e '.[demo]'")

from conftest import export_folder  # noqa: E402
from doc_hvae import DocHVAEPipeline  # noqa: E402
from doc_hvae.data.prepare import PreparedCorpus  # noqa: E402
from doc_hvae.demo import DemoHandlers, DemoLimits, build_demo, launch_demo, run  # noqa: E402
from doc_hvae.document_prior import FittedDocumentPrior  # noqa: E402
from doc_hvae.generation import row_text  # noqa: E402
from doc_hvae.modeling.loading import prepared_dir_of  # noqa: E402

FIRST = "The list type is a mutable sequence. You can append items to it.\n\nSlicing a list returns a new list."
SECOND = "A function definition binds a name to a function object. Default values are evaluated once."
LIMITS = DemoLimits(max_documents=3, max_tokens=24, max_chars=500, max_steps=4, max_iw_samples=5)
# token temperature, top-p, latent temperatures (paragraph, sentence), document guidance, tokens per document, seed
SAMPLING = (0.9, 0.95, 1.0, 1.0, 2.0, 16, 0)
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # gradio 6.31's own pandas deprecations


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> str:
    return export_folder(tmp_path_factory, ["document", "paragraph", "sentence"])


@pytest.fixture(scope="module")
def pipe(export) -> DocHVAEPipeline:
    return DocHVAEPipeline.from_pretrained(export, device="cpu")


@pytest.fixture(scope="module")
def handlers(export, pipe) -> DemoHandlers:
    return DemoHandlers(pipe, LIMITS, PreparedCorpus(prepared_dir_of(export)), index_windows=12)


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("=== ")]


def test_generation_handlers_return_each_document_with_its_paragraphs(handlers):
    styled = handlers.style(FIRST, 2, *SAMPLING, False)
    assert headings(styled) == [
        "=== document 1 in the style of the text ===",
        "=== document 2 in the style of the text ===",
    ]
    assert "[1] " in styled  # paragraphs numbered under their document
    sampled = handlers.sample(3, 0.9, 0.95, 1.0, *SAMPLING[2:])
    assert len(headings(sampled)) == 3 and all(h.startswith("=== prior sample") for h in headings(sampled))
    continued = handlers.continue_text(FIRST, 1, *SAMPLING)
    assert headings(continued) == ["=== continuation 1 (the paragraphs after the prefix) ==="]
    steps = handlers.interpolate(FIRST, SECOND, "document", 3, *SAMPLING, True)
    assert [h.split(":")[0] for h in headings(steps)] == ["=== step 1 of 3", "=== step 2 of 3", "=== step 3 of 3"]
    assert "document weight 0.50 toward the second" in headings(steps)[1]
    swapped = handlers.swap(FIRST, SECOND, *SAMPLING, False)
    assert headings(swapped) == [
        "=== the first text's paragraphs and sentences with the second text's z_doc ===",
        "=== the second text's paragraphs and sentences with the first text's z_doc ===",
    ]


def test_style_is_seeded_and_the_token_bound_cuts_documents(handlers):
    assert handlers.style(FIRST, 1, *SAMPLING, False) == handlers.style(FIRST, 1, *SAMPLING, False)
    one_token = handlers.style(FIRST, 1, *SAMPLING[:5], 1, 0, False)
    body = one_token.split("===\n", 1)[1]
    assert len(body.removeprefix("[1] ").split()) <= 1  # a single token decodes to at most one word


def test_inspect_reports_score_kl_neighbours_and_the_map(handlers):
    report, image = handlers.inspect(FIRST, 2, 3)
    assert "NLL (ELBO bound)" in report and "NLL (importance-weighted, 2 samples)" in report
    assert "KL per level" in report and all(
        f"{level} " in report.split("KL per level")[1] for level in ("document", "paragraph", "sentence")
    )
    neighbours = [line for line in report.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert len(neighbours) == 3
    distances = [float(line.split("distance ")[1].split(":")[0]) for line in neighbours]
    assert distances == sorted(distances)
    assert image is not None and image.size[0] > 100  # the z_doc map with the text on it


def test_reference_picker_gives_the_windows_text(handlers):
    choices = handlers.reference_choices()
    assert choices and choices[0].startswith("0: ")
    assert handlers.reference_text(choices[-1]) == row_text(handlers.references[-1], handlers.pipe.tokenizer)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda h: h.style(FIRST, 4, *SAMPLING, False),
            "documents=4 is over this demo's limit of 3 (set by doc-hvae-demo --max-documents)",
        ),
        (
            lambda h: h.sample(1, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0, 25, 0),
            "tokens per document=25 is over this demo's limit of 24 (set by doc-hvae-demo --max-tokens)",
        ),
        (
            lambda h: h.style("x" * 501, 1, *SAMPLING, False),
            "text has 501 characters, over this demo's limit of 500 (set by doc-hvae-demo --max-chars)",
        ),
        (
            lambda h: h.interpolate(FIRST, SECOND, "document", 5, *SAMPLING, False),
            "steps=5 is over this demo's limit of 4 (set by doc-hvae-demo --max-steps)",
        ),
        (
            lambda h: h.inspect(FIRST, 6, 3),
            "importance samples=6 is over this demo's limit of 5 (set by doc-hvae-demo --max-iw-samples)",
        ),
        (lambda h: h.style("  ", 1, *SAMPLING, False), "text is empty"),
        (lambda h: h.sample(1.5, 0.9, 0.95, 1.0, *SAMPLING[2:]), "documents=1.5; give a whole number"),
    ],
)
def test_a_request_over_a_bound_is_refused_with_the_value_and_the_limit(handlers, call, message):
    with pytest.raises(gr.Error) as refused:
        call(handlers)
    assert message in refused.value.message


def test_the_pipelines_errors_reach_the_page_as_written(handlers):
    with pytest.raises(gr.Error, match="level='word' is not a level of this model"):
        handlers.interpolate(FIRST, SECOND, "word", 3, *SAMPLING, False)
    with pytest.raises(gr.Error, match="no fitted document prior; fit one with `doc-hvae-fit-prior"):
        handlers.sample(1, 0.9, 0.95, 1.0, *SAMPLING[2:], "fitted")


def test_sample_draws_z_doc_from_the_fitted_prior_when_asked(handlers, pipe):
    D = pipe.model.config.latent_dim("document")
    far = torch.full((1, D), 50.0)  # no draw of N(0, I) comes near it
    pipe.model.fitted_document_prior = FittedDocumentPrior(torch.ones(1), far, torch.full((1, D), 0.01))
    try:
        fitted = handlers.sample(2, 0.9, 0.95, 1.0, *SAMPLING[2:], "fitted")
        assert len(headings(fitted)) == 2
        drawn = pipe.sample(2, seed=0, document_prior="fitted", max_tokens=4)
        assert all(torch.allclose(text.latents["document"], far[0], atol=0.1) for text in drawn)
        # The page shows the choice only for a model with a fitted prior, set to its recommended sampling's.
        radio = prior_choice(build_demo(pipe, LIMITS))
        assert radio.visible and [value for _, value in radio.choices] == ["trained", "fitted"]
    finally:
        pipe.model.fitted_document_prior = None
    radio = prior_choice(build_demo(pipe, LIMITS))
    assert not radio.visible and radio.value == "trained"


def prior_choice(page: gr.Blocks) -> gr.Radio:
    """The Sample tab's choice of document prior."""
    (radio,) = [
        block
        for block in page.blocks.values()
        if isinstance(block, gr.Radio) and str(block.label).startswith("z_doc from")
    ]
    return radio


def test_a_missing_or_corrupt_model_is_one_error_line_and_status_2(export, tmp_path, capsys):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(export, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    for model, reason in ((tmp_path / "missing", "error: no model at"), (corrupt, "error: could not load the DocHVAE")):
        with pytest.raises(SystemExit) as exit_:
            run(["--model", str(model)])
        assert exit_.value.code == 2
        first_line, *rest = capsys.readouterr().err.strip().splitlines()
        assert first_line.startswith(reason) and str(model) in first_line
        assert rest == ["(run with --debug for the traceback)"]  # no traceback


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="max_documents=0"):
        DemoLimits(max_documents=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_served_app_answers_through_gradio_client_and_loads_nothing_from_elsewhere(export, pipe):
    from gradio_client import Client

    demo = build_demo(pipe, LIMITS, PreparedCorpus(prepared_dir_of(export)), index_windows=0)
    assert not demo.analytics_enabled
    _, url, _ = launch_demo(demo, port=free_port(), block=False)
    try:
        client = Client(url, verbose=False)
        styled = client.predict(FIRST, 2, *SAMPLING, False, api_name="/style")
        assert headings(styled) == [
            "=== document 1 in the style of the text ===",
            "=== document 2 in the style of the text ===",
        ]
        with pytest.raises(Exception, match="over this demo's limit of 3"):  # the gr.Error's message reaches the client
            client.predict(FIRST, 4, *SAMPLING, False, api_name="/style")
        page = urllib.request.urlopen(url).read().decode()
        theme = urllib.request.urlopen(url.rstrip("/") + "/theme.css").read().decode()
        assert "fonts.googleapis.com" not in page + theme
        assert (
            "--font: ui-sans-serif, system-ui" in theme and "Source Sans Pro" not in theme
        )  # system fonts, not the default theme's
    finally:
        demo.close()
