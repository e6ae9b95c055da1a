"""Small Vision Transformers for 28-64 px images (Dosovitskiy et al. 2021, "An Image is Worth
16x16 Words").

A pre-norm ViT with a class token and learned position embeddings, patch size 4 by default, so
a 32 px image becomes 8x8 = 64 patch tokens plus the class token. Parameter names follow timm
(``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,
norm2,mlp.fc1,mlp.fc2}``, ``norm``, ``head``); the parameter count equals torchvision's
``VisionTransformer`` with the same sizes.

Variants: ``vit_tiny`` (width 192, depth 12, 3 heads: the DeiT-Ti sizes of Touvron et al. 2021
with 4 px patches, ~5.4M parameters) and ``vit_nano`` (width 128, depth 6, 4 heads, ~1.2M,
for CPU runs). ``depth``, ``embed_dim``, ``num_heads``, ``patch_size`` ... can be overridden.

Feature contract:
    - ``forward_features(x)`` returns the tokens ``(N, 1 + P, D)`` output by the last block
      (``default_layer = "blocks.<depth-1>"``), before the final LayerNorm.
    - ``forward_head`` applies the final LayerNorm, then pools: the class token
      (``global_pool="token"``, default) or the mean of the patch tokens (``"avg"``), then the
      linear head.
    - When a ViT layer is a BIRD guiding/guided layer, feature capture reduces the ``(N, T, D)``
      tokens to ``(N, D)`` by a *mean over all tokens* (class token included), not by the class
      token the classifier reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.errors import ShapeError
from birdkit.models._base import BirdkitModel
from birdkit.models._factory import ModelArgumentError, register_model

__all__ = ["VisionTransformer"]


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ModelArgumentError(f"Expected embed_dim divisible by num_heads, got {dim} and {num_heads}.")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(n, t, d)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop: float, attn_drop: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` patches -> ``embed_dim`` tokens, by one strided conv."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        if img_size % patch_size:
            raise ModelArgumentError(
                f"Expected img_size divisible by patch_size for a ViT, got img_size={img_size}, "
                f"patch_size={patch_size}.")
        self.img_size = img_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ShapeError(f"Expected {self.img_size}x{self.img_size} images for this ViT "
                             f"(its position embeddings are sized for them), got {tuple(x.shape[-2:])}.")
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(BirdkitModel):
    """ViT with class token for small images (Dosovitskiy et al. 2021).

    Args:
        img_size: input height = width (fixes the number of position embeddings).
        patch_size: patch side in pixels.
        in_chans: input channels.
        num_classes: classifier outputs.
        embed_dim: token width D.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        global_pool: ``"token"`` (class token) or ``"avg"`` (mean of the patch tokens).
        drop_rate: dropout after the position embedding, in the blocks and before the head.
        attn_drop_rate: attention dropout.
    """

    classifier_name = "head"

    def __init__(self, *, img_size: int = 32, patch_size: int = 4, in_chans: int = 3, num_classes: int = 10,
                 embed_dim: int = 192, depth: int = 12, num_heads: int = 3, mlp_ratio: float = 4.0,
                 global_pool: str = "token", drop_rate: float = 0.0, attn_drop_rate: float = 0.0):
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ModelArgumentError(f"Expected global_pool 'token' or 'avg', got {global_pool!r}.")
        if depth < 1:
            raise ModelArgumentError(f"Expected depth >= 1, got {depth}.")
        self.global_pool = global_pool
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, drop_rate, attn_drop_rate)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes)
        self.num_features = embed_dim
        self.num_classes = num_classes
        self.default_layer = f"blocks.{depth - 1}"
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                self._init_classifier(m)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _init_classifier(self, layer: nn.Linear) -> None:
        nn.init.trunc_normal_(layer.weight, std=0.02)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos_drop(x + self.pos_embed)
        return self.blocks(x)

    def pool_features(self, f: torch.Tensor) -> torch.Tensor:
        f = self.norm(f)
        return f[:, 0] if self.global_pool == "token" else f[:, 1:].mean(dim=1)


_CONFIGS = {
    "vit_nano": dict(embed_dim=128, depth=6, num_heads=4),
    "vit_tiny": dict(embed_dim=192, depth=12, num_heads=3),
}


def _make(name: str) -> None:
    defaults = _CONFIGS[name]

    def build(*, num_classes: int, in_chans: int, img_size: int, patch_size: int = 4,
              embed_dim: int = defaults["embed_dim"], depth: int = defaults["depth"],
              num_heads: int = defaults["num_heads"], mlp_ratio: float = 4.0, global_pool: str = "token",
              drop_rate: float = 0.0, attn_drop_rate: float = 0.0) -> VisionTransformer:
        return VisionTransformer(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                                 num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                                 mlp_ratio=mlp_ratio, global_pool=global_pool, drop_rate=drop_rate,
                                 attn_drop_rate=attn_drop_rate)

    build.__name__ = name
    d = defaults
    register_model(name, family="vit",
                   description=f"ViT, patch 4, width {d['embed_dim']}, depth {d['depth']}, {d['num_heads']} heads "
                               f"(Dosovitskiy et al. 2021)")(build)


for _name in _CONFIGS:
    _make(_name)
