"""Feature capture: read intermediate layer outputs of any ``nn.Module`` during a forward pass.

See :mod:`birdkit.features.capture` and ``docs/capture_and_checkpoints.md``.
"""

from birdkit.features import capture as _capture
from birdkit.features import inference as _inference
from birdkit.features.capture import *  # noqa: F403
from birdkit.features.inference import *  # noqa: F403

__all__ = [*_capture.__all__, *_inference.__all__]
