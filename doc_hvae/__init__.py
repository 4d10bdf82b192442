"""doc_hvae: hierarchical variational autoencoders over documents."""

from .config import DocHVAEConfig
from .modeling import DocHVAE, DocHVAEOutput, register_auto_classes

register_auto_classes()

__version__ = "0.1.0"
__all__ = ["DocHVAE", "DocHVAEConfig", "DocHVAEOutput", "__version__"]
