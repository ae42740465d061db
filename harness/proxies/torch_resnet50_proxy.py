"""The resnet50 proxy as a PyTorch module: the ONNX proxy graph, op for op.

``harness/proxies/resnet50_proxy.onnx`` is the one source of truth; this module
only restates its graph (tools/build_resnet50_proxy.py documents why it looks
like this) and ``tools/build_resnet50_torch_proxy.py`` copies its initializers
into ``resnet50_proxy_torch.pt`` under the same names:

    AveragePool 28/28 -> Flatten -> Gather(selected_features)
    -> (x - feature_mean) * feature_scale = z
    -> exp(z @ rbf_centers_2gamma + rbf_center_bias - gamma * |z|^2)
    -> @ ridge_weights + ridge_bias -> Pad(class_pads, pad_logit)
    -> Softmax (softmax_tensor:0) and ArgMax (ArgMax:0)

Only torch is imported here; the harness imports this module lazily (through
the pytorch backend's ``architecture`` option), never at harness import time.
"""
from __future__ import annotations

import torch
from torch import nn

# The committed ONNX proxy's shapes. tools/build_resnet50_torch_proxy.py fails
# if the ONNX file ever disagrees, so a rebuilt proxy cannot load silently wrong.
N_POOLED = 3 * 8 * 8
N_FEATURES = 64
N_CENTRES = 1097
N_DIGITS = 10
NUM_CLASSES = 1001
POOL = 28


class Resnet50Proxy(nn.Module):
    """forward(x [N,3,224,224]) -> (ArgMax:0 int64 [N], softmax_tensor:0 [N,1001])."""

    def __init__(self, n_features: int = N_FEATURES, n_centres: int = N_CENTRES, n_digits: int = N_DIGITS,
                 num_classes: int = NUM_CLASSES):
        super().__init__()

        def weight(*shape):
            # Parameters, not buffers: model.to(dtype) casts them and info()
            # reports their device and dtype as what actually ran.
            return nn.Parameter(torch.zeros(shape), requires_grad=False)

        # Integer tensors stay buffers: .to(dtype) must never cast indices.
        self.register_buffer("selected_features", torch.arange(n_features, dtype=torch.int64))
        self.feature_mean = weight(n_features)
        self.feature_scale = weight(n_features)
        self.rbf_centers_2gamma = weight(n_features, n_centres)
        self.rbf_center_bias = weight(n_centres)
        self.gamma = weight()
        self.ridge_weights = weight(n_centres, n_digits)
        self.ridge_bias = weight(n_digits)
        # ONNX Pad's [begin axis 0, begin axis 1, end axis 0, end axis 1]
        pads = torch.tensor([0, 1, 0, num_classes - n_digits - 1], dtype=torch.int64)
        self.register_buffer("class_pads", pads)
        self.pad_logit = weight()
        self._pad_before, self._pad_after = 1, num_classes - n_digits - 1
        # The pad widths are shapes, so forward needs them as Python ints; read
        # them once per load rather than syncing on a device tensor per call.
        self.register_load_state_dict_post_hook(Resnet50Proxy._read_pads)

    @staticmethod
    def _read_pads(module: "Resnet50Proxy", incompatible_keys) -> None:
        begin0, begin1, end0, end1 = (int(v) for v in module.class_pads.tolist())
        if begin0 or end0:
            raise ValueError(f"class_pads {module.class_pads.tolist()} pads the batch axis; the proxy pads classes only")
        module._pad_before, module._pad_after = begin1, end1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = nn.functional.avg_pool2d(x, POOL, POOL).flatten(1)  # AveragePool, Flatten
        z = (features.index_select(1, self.selected_features) - self.feature_mean) * self.feature_scale
        zc = torch.addmm(self.rbf_center_bias, z, self.rbf_centers_2gamma)  # Gemm
        z_sq = (z * z).sum(dim=1, keepdim=True)  # ReduceSumSquare, keepdims
        rbf = torch.exp(zc - z_sq * self.gamma)
        digit_logits = torch.addmm(self.ridge_bias, rbf, self.ridge_weights)  # Gemm
        n = digit_logits.shape[0]
        pad = self.pad_logit
        logits = torch.cat(
            [pad.expand(n, self._pad_before), digit_logits, pad.expand(n, self._pad_after)], dim=1
        )  # Pad, constant mode
        # ONNX ArgMax and torch.argmax both return the first index among ties.
        return torch.argmax(logits, dim=1), torch.softmax(logits, dim=1)
