"""How close a trained network's representation is to its teacher's: linear CKA on clean test images."""

from __future__ import annotations

from torch import nn

from birdkit.data import TensorData
from birdkit.evaluation.similarity import CKAMetric
from birdkit.features import batched_forward

__all__ = ["cka_to_teacher"]


def cka_to_teacher(model: nn.Module, teacher: nn.Module, teacher_layer: str, model_layer: str, data: TensorData,
                   n: int, batch_size: int = 256) -> float:
    """Linear mini-batch CKA between ``teacher_layer`` and ``model_layer`` on the first ``n``
    images of ``data``, in full batches of ``batch_size`` (HSIC terms averaged over batches,
    then the ratio; :class:`~birdkit.evaluation.similarity.CKAMetric`). Fewer than
    ``batch_size`` images form one batch; a batch of fewer than 4 images is not scored."""
    n = min(n, len(data))
    stop = n - n % batch_size or n
    metric = CKAMetric(kernel="linear")
    pairs = zip(batched_forward(teacher, data.images, data.normalize, batch_size=batch_size, layers=[teacher_layer],
                                stop=stop),
                batched_forward(model, data.images, data.normalize, batch_size=batch_size, layers=[model_layer],
                                stop=stop))
    for (_, tf), (_, mf) in pairs:
        if len(tf[teacher_layer]) < 4:
            break
        metric.update(tf[teacher_layer], mf[model_layer])
    return float(metric.compute())
