"""The proxy's 3-D U-Net: MLPerf's window contract at a size that trains in minutes on one core.

Contract (the real model's, on an R^3 window): input float32 [N, 1, R, R, R],
output float32 logits [N, 3, R, R, R] (background, kidney, tumour). Two
stride-2 levels (R, R/2, R/4) give a receptive field of most of a 32^3
window, so the model uses context.

The model is weaker near the window's faces on purpose: it predicts the
central (R - 2 * BORDER)^3 and copies the nearest inner prediction into the
border band, as a U-Net with unpadded convolutions must extend its smaller
output to the window. Real U-Nets are weaker there too (their view is cut
off), which is why MLPerf weights overlapping windows towards their centres;
with same-padded convolutions alone this tiny model was not, and dropping
the weighting changed its DICE by 0.1% (build_proxy.py says more).

The pytorch backend loads a state dict into this class (backend option
``architecture = "harness.benchmarks.unet3d.model:TinyUNet3D"``) and reads the
outputs by position: ``forward`` returns a one-element tuple.
"""
from __future__ import annotations

import torch
from torch import nn

WIDTH = 8  # channels at full resolution; 2x and 4x below
BORDER = 4  # voxels per window face whose logits are the nearest inner voxel's (R/8 for R = 32)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class TinyUNet3D(nn.Module):
    def __init__(self, width: int = WIDTH, border: int = BORDER):
        super().__init__()
        c = width
        self.border = int(border)
        self.enc1 = _conv(1, c)
        self.down1 = _conv(c, 2 * c, stride=2)
        self.enc2 = _conv(2 * c, 2 * c)
        self.down2 = _conv(2 * c, 4 * c, stride=2)
        self.bottom = nn.Sequential(_conv(4 * c, 4 * c), _conv(4 * c, 4 * c))
        self.up2 = nn.ConvTranspose3d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = _conv(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose3d(2 * c, c, 2, stride=2)
        # full resolution is where the cost is: a 1x1x1 mix of the skip and the upsampled features
        self.dec1 = nn.Sequential(nn.Conv3d(2 * c, c, 1), nn.ReLU(inplace=True))
        self.head = nn.Conv3d(c, 3, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        e1 = self.enc1(x)
        e2 = self.enc2(self.down1(e1))
        b = self.bottom(self.down2(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        logits = self.head(d1)
        if self.border:
            logits = replicate_border(logits[:, :, self.border:-self.border, self.border:-self.border,
                                             self.border:-self.border], self.border)
        return (logits,)


def replicate_border(x: torch.Tensor, width: int) -> torch.Tensor:
    """Extend the three spatial axes by ``width`` copies of their first and last planes.

    What ``F.pad(mode="replicate")`` does, written with constant slices and
    repeats so the exported ONNX graph keeps static output dimensions.
    """
    for axis in (2, 3, 4):
        repeats = [1] * x.dim()
        repeats[axis] = width
        first = x[(slice(None),) * axis + (slice(0, 1),)].repeat(*repeats)
        last = x[(slice(None),) * axis + (slice(-1, None),)].repeat(*repeats)
        x = torch.cat([first, x, last], dim=axis)
    return x
