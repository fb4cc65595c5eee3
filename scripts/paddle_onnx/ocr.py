"""PaddleOCR's three models: DB text detection (ppocr/modeling/necks/db_fpn.py, heads/det_db_head.py),
recognition (PP-OCRv3: necks/rnn.py EncoderWithSVTR + heads/rec_ctc_head.py; v2: BiLSTM + CTC) and text
direction classification (heads/cls_head.py), on the backbones of backbones.py."""

from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from backbones import ConvBN, MobileNetV1Enhance, MobileNetV3Rec, SqueezeExcite, up


class ResidualSE(nn.Layer):
    """RSEFPN's lateral layer: conv (no bias), then x + SE(x)."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2D(cin, cout, k, padding=k // 2, bias_attr=False)
        self.se = SqueezeExcite(cout)

    def forward(self, x):
        x = self.conv(x)
        return x + self.se(x)


class FPN(nn.Layer):
    """DB's FPN: top-down sums at strides 32→4, 3×3 smoothing to C/4, nearest upsampling, concat.

    `se=True` is RSEFPN (PP-OCRv3/v4 detectors), `se=False` is DBFPN (ResNet detectors)."""

    def __init__(self, in_channels, out_channels, se):
        super().__init__()
        if se:
            self.lateral = nn.LayerList([ResidualSE(c, out_channels, 1) for c in in_channels])
            self.smooth = nn.LayerList([ResidualSE(out_channels, out_channels // 4, 3) for _ in in_channels])
        else:
            self.lateral = nn.LayerList([nn.Conv2D(c, out_channels, 1, bias_attr=False) for c in in_channels])
            self.smooth = nn.LayerList(
                [nn.Conv2D(out_channels, out_channels // 4, 3, padding=1, bias_attr=False) for _ in in_channels])

    def forward(self, maps):
        lat = [conv(m) for conv, m in zip(self.lateral, maps)]
        for i in (2, 1, 0):
            lat[i] = lat[i] + up(lat[i + 1], 2)
        p = [conv(m) for conv, m in zip(self.smooth, lat)]
        return paddle.concat([up(p[3], 8), up(p[2], 4), up(p[1], 2), p[0]], axis=1)


class DBHead(nn.Layer):
    """DB's probability branch (what inference runs): 3×3 conv + BN + ReLU, two 2×2 stride-2
    transposed convs (BN + ReLU between), sigmoid."""

    def __init__(self, cin):
        super().__init__()
        mid = cin // 4
        self.conv = nn.Conv2D(cin, mid, 3, padding=1, bias_attr=False)
        self.bn1 = nn.BatchNorm(mid, act="relu")
        self.up1 = nn.Conv2DTranspose(mid, mid, 2, 2)
        self.bn2 = nn.BatchNorm(mid, act="relu")
        self.up2 = nn.Conv2DTranspose(mid, 1, 2, 2)

    def forward(self, x):
        return F.sigmoid(self.up2(self.bn2(self.up1(self.bn1(self.conv(x))))))


class DBDetector(nn.Layer):
    """DB text detector: backbone (four maps), FPN, probability map (N, 1, H, W) at the input's size."""

    def __init__(self, backbone, fpn_channels, se):
        super().__init__()
        self.backbone = backbone
        self.neck = FPN(backbone.out_channels, fpn_channels, se)
        self.head = DBHead(fpn_channels)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))


class Attention(nn.Layer):
    """SVTR global attention: qkv Linear, (0, -1, 3, heads, head_dim) reshape, softmax(q·kᵀ)·v."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        qkv = self.qkv(x).reshape((0, -1, 3, self.heads, self.head_dim)).transpose((2, 0, 3, 1, 4))
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = F.softmax(q.matmul(k.transpose((0, 1, 3, 2))), axis=-1)
        x = attn.matmul(v).transpose((0, 2, 1, 3)).reshape((0, -1, self.heads * self.head_dim))
        return self.proj(x)


class SVTRBlock(nn.Layer):
    """Pre-norm transformer block (LayerNorm eps 1e-5, MLP ratio 2, Swish), as in EncoderWithSVTR."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=1e-5)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, epsilon=1e-5)
        self.fc1 = nn.Linear(dim, dim * 2)
        self.fc2 = nn.Linear(dim * 2, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.swish(self.fc1(self.norm2(x))))


class SVTRNeck(nn.Layer):
    """EncoderWithSVTR: reduce (3×3, 1×1), tokens (B, H·W, C), blocks, LayerNorm, back to (B, C, H, W)
    with H, W read from the tensor's shape, 1×1, concat with the input, 3×3, 1×1."""

    def __init__(self, cin, dims=32, hidden=48, heads=8, depth=2):
        super().__init__()
        self.conv1 = ConvBN(cin, cin // 8, 3, act="swish")
        self.conv2 = ConvBN(cin // 8, hidden, 1, act="swish")
        self.blocks = nn.LayerList([SVTRBlock(hidden, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(hidden, epsilon=1e-6)
        self.conv3 = ConvBN(hidden, cin, 1, act="swish")
        self.conv4 = ConvBN(2 * cin, cin // 8, 3, act="swish")
        self.conv5 = ConvBN(cin // 8, dims, 1, act="swish")
        self.out_channels = dims

    def forward(self, x):
        z = self.conv2(self.conv1(x))
        _, c, h, w = z.shape
        z = z.flatten(2).transpose([0, 2, 1])
        for block in self.blocks:
            z = block(z)
        z = self.norm(z).reshape([0, h, w, c]).transpose([0, 3, 1, 2])
        z = paddle.concat([x, self.conv3(z)], axis=1)
        return self.conv5(self.conv4(z))


class CTCHead(nn.Layer):
    """Linear to the classes (blank included) and softmax over them (inference)."""

    def __init__(self, cin, classes):
        super().__init__()
        self.fc = nn.Linear(cin, classes)
        self.fc.logit_gain = 6.0

    def forward(self, x):
        return F.softmax(self.fc(x), axis=2)


class SVTRRecognizer(nn.Layer):
    """PP-OCRv3 recognizer: MobileNetV1Enhance ×0.125, SVTR neck, Im2Seq, CTC: (N, W/8, classes)."""

    def __init__(self, classes=97):
        super().__init__()
        self.backbone = MobileNetV1Enhance(scale=0.125)
        self.neck = SVTRNeck(self.backbone.out_channels)
        self.head = CTCHead(self.neck.out_channels, classes)

    def forward(self, x):
        x = self.neck(self.backbone(x))
        x = x.squeeze(axis=2).transpose([0, 2, 1])  # Im2Seq: (B, W, C)
        return self.head(x)


class CRNNRecognizer(nn.Layer):
    """ch_ppocr_mobile_v2.0_rec: MobileNetV3 small (first stride (1, 1)), Im2Seq, 2-layer BiLSTM, CTC."""

    def __init__(self, classes=97, hidden=24):
        super().__init__()
        self.backbone = MobileNetV3Rec(scale=0.25, first_stride=1)
        self.lstm = nn.LSTM(self.backbone.out_channels, hidden, num_layers=2, direction="bidirect")
        self.head = CTCHead(2 * hidden, classes)

    def forward(self, x):
        x = self.backbone(x).squeeze(axis=2).transpose([0, 2, 1])
        x, _ = self.lstm(x)
        return self.head(x)


class DirectionClassifier(nn.Layer):
    """ch_ppocr_mobile_v2.0_cls: MobileNetV3 small ×0.35, global average pool, Linear, softmax."""

    def __init__(self):
        super().__init__()
        self.backbone = MobileNetV3Rec(scale=0.35)
        self.fc = nn.Linear(self.backbone.out_channels, 2)
        self.fc.logit_gain = 6.0

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.backbone(x), 1)
        x = paddle.reshape(x, [x.shape[0], x.shape[1]])
        return F.softmax(self.fc(x), axis=1)
