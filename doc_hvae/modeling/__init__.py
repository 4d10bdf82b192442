from .distributions import DiagonalGaussian
from .modeling_doc_hvae import DocHVAE, DocHVAEOutput, DocHVAEPreTrainedModel, register_auto_classes

__all__ = ["DiagonalGaussian", "DocHVAE", "DocHVAEOutput", "DocHVAEPreTrainedModel", "register_auto_classes"]
