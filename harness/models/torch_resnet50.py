"""ResNet50 v1.5 in PyTorch, with torchvision's state-dict key layout.

Written for MLPerf's PyTorch ResNet50 weights (``resnet50-19c8e357.pth``, a
torchvision state dict): conv1/bn1, layer1..layer4 of Bottleneck blocks
(conv1/bn1, conv2/bn2, conv3/bn3, downsample.0/.1), fc with 1000 classes.
v1.5 means the stride-2 of a stage's first block sits on the 3x3 conv
(conv2), not on the first 1x1 conv as in the original paper (v1).

Differences from torchvision's own module, on purpose:
- forward returns the MLPerf contract's outputs, ``(argmax int64 [N],
  softmax [N, num_classes])``; there is no background class, so these weights
  need the task option class_offset = 0 (MLPerf's PostProcessArgMax(offset=0)).
- the harness feeds MLPerf's ResNet50 (ONNX) preprocessing: RGB in 0..255 minus
  the per-channel means [123.68, 116.78, 103.94], no scaling. torchvision weights
  expect (x/255 - mean) / std with ImageNet's mean and std, so by default the
  forward first maps one onto the other with an exact per-channel affine
  (``input_preprocessing="mlperf-vgg"``); pass ``"torchvision"`` to feed
  already-normalised inputs. The affine lives in non-persistent buffers, so the
  state dict keeps torchvision's keys exactly.
"""
from __future__ import annotations

import torch
from torch import nn

# MLPerf's ResNet50 preprocessing subtracts these (RGB, 0..255 scale).
MLPERF_MEAN_RGB = (123.68, 116.78, 103.94)
# torchvision's ImageNet normalisation (RGB, 0..1 scale).
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride of the first block)
EXPANSION = 4


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)


class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        out_ch = width * EXPANSION
        self.conv1, self.bn1 = _conv(in_ch, width, 1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3, stride), nn.BatchNorm2d(width)  # v1.5: stride here
        self.conv3, self.bn3 = _conv(width, out_ch, 1), nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            # A Sequential, so the keys are downsample.0 (conv) and downsample.1 (bn).
            self.downsample = nn.Sequential(_conv(in_ch, out_ch, 1, stride), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


class ResNet50(nn.Module):
    """forward(x [N,3,224,224]) -> (argmax int64 [N], softmax [N, num_classes])."""

    def __init__(self, num_classes: int = 1000, input_preprocessing: str = "mlperf-vgg"):
        super().__init__()
        if input_preprocessing not in ("mlperf-vgg", "torchvision"):
            raise ValueError(f"input_preprocessing {input_preprocessing!r}: expected 'mlperf-vgg' or 'torchvision'")
        # x_tv = (x_mlperf + mlperf_mean - 255 * tv_mean) / (255 * tv_std), per channel
        mlperf_mean, mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in
                                  (MLPERF_MEAN_RGB, TORCHVISION_MEAN, TORCHVISION_STD))
        identity = input_preprocessing == "torchvision"
        scale = torch.ones(1, 3, 1, 1) if identity else 1.0 / (255.0 * std)
        shift = torch.zeros(1, 3, 1, 1) if identity else (mlperf_mean - 255.0 * mean) / (255.0 * std)
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)

        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = 64
        for index, (width, blocks, stride) in enumerate(STAGES, start=1):
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(in_ch, width, stride if block == 0 else 1))
                in_ch = width * EXPANSION
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He init for convs and unit BatchNorm: a sane random model for tests;
        # real runs overwrite every parameter from the state dict.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale + self.input_shift
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(self.features(x))
        return torch.argmax(logits, dim=1), torch.softmax(logits, dim=1)
