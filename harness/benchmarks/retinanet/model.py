"""TinyRetina: the proxy detector, with the MLPerf retinanet ONNX model's inputs and outputs.

Contract (as resnext50_32x4d_fpn.onnx): input ``images`` float32
[1, 3, 800, 800]; outputs, in this order, ``boxes`` float32 [K, 4] (x1, y1,
x2, y2 in pixels of the 800x800 input), ``scores`` float32 [K] (highest
first) and ``labels`` int64 [K] (category ids). K is fixed here (TOP_K).

Why it looks like this: the proxy must answer in a few milliseconds on two
cores, so the 800x800 input is averaged 8x8 at once (the rendered shapes are
flat colour: nothing is lost that the boxes need, and the averaging keeps
each edge's sub-pixel position in the border pixels' intensities). A small
CNN predicts, on a 50x50 grid (stride 16), a heatmap per class and, per cell,
the distances from the cell's centre to the four edges of the object there
(CenterNet-style, no anchors). Peaks are picked with a 3x3 max-pool instead
of NMS, then the top K: all of it exports to plain ONNX ops.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

INPUT_SIZE = 800
POOL = 8  # input pixels averaged per side before the first convolution
STRIDE = 16  # input pixels per output cell
GRID = INPUT_SIZE // STRIDE  # 50 cells a side
TOP_K = 100  # detections per image (COCOeval's maxDets for stats[0] is 100)
NUM_CLASSES = 6
HEAT_PRIOR_BIAS = -2.19  # sigmoid^-1(0.1): CenterNet's start, so the focal loss starts sane


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Body(nn.Module):
    """[N, 3, 100, 100] averaged input -> heatmap logits [N, C, 50, 50], log edge distances [N, 4, 50, 50]."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.stem = nn.Sequential(_block(3, 16), _block(16, 32, stride=2), _block(32, 32))  # 50x50
        self.deep = nn.Sequential(_block(32, 64, stride=2), _block(64, 64), _block(64, 64, dilation=2))  # 25x25
        self.lateral = nn.Conv2d(64, 32, 1)
        self.merge = _block(32, 32)
        self.head = _block(32, 32)
        self.heat = nn.Conv2d(32, num_classes, 1)
        self.edges = nn.Conv2d(32, 4, 1)
        nn.init.constant_(self.heat.bias, HEAT_PRIOR_BIAS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fine = self.stem(x)
        coarse = self.lateral(self.deep(fine))
        x = self.head(self.merge(fine + F.interpolate(coarse, scale_factor=2.0, mode="nearest")))
        return self.heat(x), self.edges(x)


def decode(heat_logits: torch.Tensor, log_edges: torch.Tensor, top_k: int = TOP_K):
    """One image's maps -> (boxes [K, 4] x1 y1 x2 y2 in input pixels, scores [K], labels [K] int64)."""
    heat = torch.sigmoid(heat_logits[0])  # [C, H, W]
    classes, height, width = heat.shape
    peaks = heat * (F.max_pool2d(heat[None], 3, stride=1, padding=1)[0] == heat).to(heat.dtype)
    scores, index = torch.topk(peaks.reshape(-1), top_k)
    cells = height * width
    labels = torch.div(index, cells, rounding_mode="floor")
    cell = index - labels * cells
    row = torch.div(cell, width, rounding_mode="floor")
    col = cell - row * width
    edges = torch.exp(log_edges[0].reshape(4, cells)[:, cell]) * STRIDE  # [4, K]: left, top, right, bottom
    cx = (col.to(heat.dtype) + 0.5) * STRIDE
    cy = (row.to(heat.dtype) + 0.5) * STRIDE
    boxes = torch.stack((cx - edges[0], cy - edges[1], cx + edges[2], cy + edges[3]), dim=1)
    return boxes.clamp(0.0, float(INPUT_SIZE)), scores, labels


class TinyRetina(nn.Module):
    """forward(images [1, 3, 800, 800]) -> (boxes, scores, labels), the real model's output order."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.pool = nn.AvgPool2d(POOL)
        self.body = Body(num_classes)

    def forward(self, images: torch.Tensor):
        if not torch.onnx.is_in_onnx_export() and images.shape[0] != 1:
            # The real model answers one image per call (MLPerf runs it at max batch size 1).
            raise ValueError(f"TinyRetina takes one image per call ([1, 3, 800, 800]), got shape {tuple(images.shape)}")
        heat, edges = self.body(self.pool(images))
        return decode(heat, edges)
