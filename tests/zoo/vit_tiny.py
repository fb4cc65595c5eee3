"""A tiny Vision Transformer in the layout of the common PyTorch ViT implementations: convolutional patch
embedding (``proj(x).flatten(2).transpose(1, 2)``), a class-token ``nn.Parameter`` concatenated with
``torch.cat((cls_token.expand(B, -1, -1), x), dim=1)``, a learned position embedding, pre-norm blocks with
``nn.MultiheadAttention`` (batch_first, called as ``attn(h, h, h)[0]``) and a GELU MLP, a final LayerNorm
and a linear head on the class token. 32×32 input, 8×8 patches (16 + 1 tokens), width 32, 4 heads,
2 blocks, batch 2."""

import torch
import torch.nn as nn

INPUT_SHAPE = (2, 3, 32, 32)


class PatchEmbed(nn.Module):
    def __init__(self, patch=8, in_chans=3, dim=32):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h)[0]
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, img_size=32, patch=8, dim=32, depth=2, heads=4, num_classes=10):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, 3, dim)
        num_patches = (img_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        B = x.shape[0]
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build_model() -> nn.Module:
    return VisionTransformer()
