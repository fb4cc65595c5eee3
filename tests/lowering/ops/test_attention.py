"""Products of two traced tensors (matmul/bmm/einsum), softmax, scaled_dot_product_attention,
MultiheadAttention (plain and fast-path kernels), TransformerEncoderLayer's fused kernel and GELU (erf):
every blob in pycaffe, the outputs in OpenCV and MNN."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs, relative_error
from pt2caffe.conversion import convert, write
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe


def _in_all_runtimes(model, shapes, tmp_path, **exceptions):
    export_and_compare(model, random_inputs(shapes), tmp_path, exceptions=exceptions)


PRODUCTS = {
    "q @ kᵀ": (lambda s, a, b: a @ b.transpose(1, 2), [(2, 3, 4), (2, 5, 4)]),
    "matmul 3-D": (lambda s, a, b: torch.matmul(a, b), [(2, 3, 5), (2, 5, 4)]),
    "matmul heads": (lambda s, a, b: torch.matmul(a, b), [(2, 2, 3, 5), (2, 2, 5, 4)]),
    "bmm": (lambda s, a, b: torch.bmm(a, b), [(3, 4, 6), (3, 6, 2)]),
    "mm": (lambda s, a, b: torch.mm(a, b), [(4, 6), (6, 3)]),
    "vector @ matrix": (lambda s, a, b: a @ b, [(6,), (6, 3)]),
    "matrix @ vector": (lambda s, a, b: a @ b, [(2, 4, 6), (6,)]),
    "einsum bhid,bhjd->bhij": (lambda s, a, b: torch.einsum("bhid,bhjd->bhij", a, b), [(2, 2, 3, 5), (2, 2, 4, 5)]),
    "einsum bhij,bhjd->bhid": (lambda s, a, b: torch.einsum("bhij,bhjd->bhid", a, b), [(2, 2, 3, 5), (2, 2, 5, 4)]),
    "einsum nchw,nkhw->nck": (lambda s, a, b: torch.einsum("nchw,nkhw->nck", a, b), [(2, 3, 4, 5), (2, 6, 4, 5)]),
    "einsum outer bi,bj->bji": (lambda s, a, b: torch.einsum("bi,bj->bji", a, b), [(2, 3), (2, 4)]),
    "einsum implicit ij,jk": (lambda s, a, b: torch.einsum("ij,jk", a, b), [(3, 5), (5, 4)]),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_product_of_two_traced_tensors(tmp_path, name):
    fn, shapes = PRODUCTS[name]
    _in_all_runtimes(Lambda(fn), shapes, tmp_path)


@pytest.mark.parametrize("dim,shape", [(-1, (2, 3, 5, 4)), (1, (2, 3, 5, 4)), (2, (2, 3, 5, 4)), (-1, (2, 5, 7))])
def test_softmax_on_any_axis(tmp_path, dim, shape):
    _in_all_runtimes(Lambda(lambda s, x: torch.softmax(3 * x, dim)), [shape], tmp_path)


_MASK = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
_BOOL_MASK = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(2)) > 0.4
_BOOL_MASK[..., 0] = True  # no fully masked row (torch gives NaN there)
SDPA = {
    "plain": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    "scale": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
    "causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "float mask": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_MASK),
    "bool mask per batch": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_BOOL_MASK),
}


@pytest.mark.parametrize("name", SDPA)
def test_scaled_dot_product_attention(tmp_path, name):
    fn = SDPA[name]
    _in_all_runtimes(Lambda(lambda s, q, k, v: fn(q, k, v)), [(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6)], tmp_path)


def test_scaled_dot_product_attention_3d(tmp_path):
    model = Lambda(lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v))
    _in_all_runtimes(model, [(3, 5, 8), (3, 5, 8), (3, 5, 8)], tmp_path)


class Attention(nn.Module):
    """nn.MultiheadAttention called as models do; returns the weights too when ``need_weights``."""

    def __init__(self, batch_first=True, need_weights=False, average=True, cross=False, kdim=None, **masks):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.need_weights, self.average, self.cross, self.masks = need_weights, average, cross, masks

    def forward(self, x, memory=None):
        source = memory if self.cross else x
        out, weights = self.attn(x, source, source, need_weights=self.need_weights,
                                 average_attn_weights=self.average, **self.masks)
        return (out, weights) if self.need_weights else out


_PADDING = torch.zeros(2, 5, dtype=torch.bool)
_PADDING[1, 3:] = True
_CAUSAL = nn.Transformer.generate_square_subsequent_mask(5)
_SPARSE = torch.zeros(5, 5, dtype=torch.bool)  # True = masked; key 0 stays visible to every query (no NaN row)
_SPARSE[0, 3] = _SPARSE[2, 4] = _SPARSE[4, 1] = _SPARSE[3, 2] = True
MHA = {
    "batch first, weights unused": (lambda: Attention(), [(2, 5, 16)]),
    "sequence first, averaged weights": (lambda: Attention(batch_first=False, need_weights=True), [(5, 2, 16)]),
    "per-head weights": (lambda: Attention(need_weights=True, average=False), [(2, 5, 16)]),
    "cross attention": (lambda: Attention(cross=True), [(2, 5, 16), (2, 7, 16)]),
    "kdim/vdim (separate projections)": (lambda: Attention(cross=True, kdim=8, need_weights=True),
                                         [(2, 5, 16), (2, 7, 8)]),
    "causal mask": (lambda: Attention(attn_mask=_CAUSAL, is_causal=True), [(2, 5, 16)]),
    "bool masks + key padding": (lambda: Attention(need_weights=True, attn_mask=_SPARSE, key_padding_mask=_PADDING),
                                 [(2, 5, 16)]),
    "unbatched": (lambda: Attention(need_weights=True), [(5, 16)]),
}


@pytest.mark.parametrize("name", MHA)
def test_multihead_attention(tmp_path, name):
    build, shapes = MHA[name]
    torch.manual_seed(0)
    _in_all_runtimes(build().eval(), shapes, tmp_path)


def test_unused_attention_weights_are_not_computed(tmp_path):
    torch.manual_seed(0)
    conversion = convert(Attention(need_weights=False), random_inputs([(2, 5, 16)]))
    assert not [layer.name for layer in conversion.net.layers if "attention_weights" in layer.name]


class FastPath(nn.Module):
    """Calls PyTorch's fused inference kernels directly, with the parameters of real modules."""

    def __init__(self, kind, norm_first=False, activation="relu"):
        super().__init__()
        self.kind = kind
        self.layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=norm_first,
                                                activation=activation)
        for parameter in self.layer.parameters():
            nn.init.normal_(parameter, 0.0, 0.3)

    def forward(self, x):
        layer, attn = self.layer, self.layer.self_attn
        if self.kind == "mha":
            return torch._native_multi_head_attention(x, x, x, 16, 4, attn.in_proj_weight, attn.in_proj_bias,
                                                      attn.out_proj.weight, attn.out_proj.bias, None, True, True, None)
        return torch._transformer_encoder_layer_fwd(
            x, 16, 4, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias,
            layer.activation_relu_or_gelu == 2, layer.norm_first, layer.norm1.eps, layer.norm1.weight,
            layer.norm1.bias, layer.norm2.weight, layer.norm2.bias, layer.linear1.weight, layer.linear1.bias,
            layer.linear2.weight, layer.linear2.bias, None, None)


@pytest.mark.parametrize("kind,norm_first,activation", [("mha", False, "relu"), ("encoder", False, "relu"),
                                                        ("encoder", True, "gelu")])
def test_fast_path_kernels(tmp_path, kind, norm_first, activation):
    torch.manual_seed(0)
    _in_all_runtimes(FastPath(kind, norm_first, activation).eval(), [(2, 5, 16)], tmp_path)


# --- GELU (erf) -----------------------------------------------------------------------------------------

GELU_POINTS = torch.cat([torch.linspace(-10, 10, 20001), torch.logspace(-30, 0, 500), -torch.logspace(-30, 0, 500),
                         torch.tensor([0.0, 1e-38, -1e-38, 30.0, -30.0, 1e4, -1e4])]).reshape(1, -1, 1, 1)


@pytest.mark.parametrize("runtime", ["pycaffe", "opencv", "mnn"])
def test_gelu_erf_is_exact_on_every_range(tmp_path, runtime):
    """|error| ≤ 1e-6 against float64 erf for |x| ≤ 10; relative ≤ 1e-6 for tiny |x| (down to 1e-30: below
    float32's normal range OpenCV flushes subnormal results to 0); ReLU far out (to 1e-30: MNN's Sigmoid of
    a large negative argument is about 1e-38, not 0: x·σ reached 1.6e-34 at x = −1e4, measured)."""
    model = Lambda(lambda s, x: F.gelu(x))
    report = write(convert(model, [GELU_POINTS]), str(tmp_path / "net"))
    name = report["outputs"][0]["name"]
    run = {"pycaffe": run_pycaffe, "opencv": run_opencv, "mnn": run_mnn}[runtime]
    got = run(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), {"data": GELU_POINTS.numpy()},
              [name])[name]
    x = GELU_POINTS.double().reshape(-1)
    exact = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    error = (torch.from_numpy(got).double().reshape(-1) - exact).abs()
    assert error[x.abs() <= 10].max() <= 1e-6
    tiny = (x.abs() < 1e-3) & (x.abs() >= 1e-30)
    assert (error[tiny] / exact[tiny].abs()).max() <= 1e-6
    assert error[x.abs() > 10].max() <= 1e-30
    assert relative_error(got.reshape(-1), F.gelu(GELU_POINTS).reshape(-1).numpy()) <= 1e-6


def test_gelu_erf_module_in_a_model(tmp_path):
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    _in_all_runtimes(model, [(3, 8)], tmp_path)


# --- refusals -----------------------------------------------------------------------------------------

REFUSED = {
    "broadcast batch": (lambda s, a, b: a @ b, [(1, 3, 4), (2, 4, 5)], "batch axes"),
    "matrix @ batch": (lambda s, a, b: a @ b, [(3, 4), (2, 4, 5)], "batch axes"),
    "einsum ellipsis": (lambda s, a, b: torch.einsum("...ij,...jk->...ik", a, b), [(2, 3, 4), (2, 4, 5)], "ellipsis"),
    "einsum diagonal": (lambda s, a, b: torch.einsum("ii,ij->ij", a, b), [(3, 3), (3, 4)], "diagonal"),
    "sdpa traced mask": (lambda s, q, m: F.scaled_dot_product_attention(q, q, q, attn_mask=m), [(2, 5, 4), (5, 5)],
                         "only a constant mask"),
    "sdpa dropout": (lambda s, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.5), [(2, 5, 4)], "dropout"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refusals_name_the_problem(name):
    fn, shapes, message = REFUSED[name]
    with pytest.raises(Pt2CaffeError, match=message):
        convert(Lambda(fn), random_inputs(shapes))


class TimmAttention(nn.Module):
    """Self-attention written out as timm's ViT does: packed qkv Linear, a 5-D reshape/permute, unbind,
    q @ kᵀ · scale, softmax, @ v, transpose back, projection."""

    def __init__(self, dim=16, heads=4):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


def test_attention_written_out(tmp_path):
    torch.manual_seed(0)
    _in_all_runtimes(TimmAttention().eval(), [(2, 5, 16)], tmp_path)
