"""doc_hvae: hierarchical variational autoencoders over documents."""

from .config import DocHVAEConfig
from .modeling import DocHVAE, DocHVAEOutput, register_auto_classes

register_auto_classes()

from .generation import LatentPlan, SamplingConfig  # noqa: E402
from .modeling.loading import load_model  # noqa: E402
from .pipeline import DocHVAEPipeline, GeneratedText  # noqa: E402  (the auto classes first)

__version__ = "0.1.0"
__all__ = [
    "DocHVAE",
    "DocHVAEConfig",
    "DocHVAEOutput",
    "DocHVAEPipeline",
    "GeneratedText",
    "LatentPlan",
    "SamplingConfig",
    "__version__",
    "load_model",
]
