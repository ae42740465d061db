"""The proxy's recogniser: a small CTC model over MLPerf's rnnt features.

Contract (task.py): input ``features`` float32 [N, T, 240], output
``logits`` float32 [N, T, 29] (the 28 labels, then the blank), T free.
A convolution over five 30 ms frames (two either side) and a unidirectional
LSTM, as MLPerf's encoder is unidirectional (streaming) LSTMs; no time
reduction, so a doubled letter has room for the blank between its halves.

The pytorch backend loads a state dict into this class (backend option
``architecture``, see the package's __init__) and reads the outputs by
position: ``forward`` returns a one-element tuple.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURES = 240  # 80 mel x 3 spliced frames
CLASSES = 29  # 28 labels and the blank
WIDTH = 96
CONTEXT = 5  # frames the convolution sees


class TinySpeechCTC(nn.Module):
    def __init__(self, features: int = FEATURES, classes: int = CLASSES, width: int = WIDTH, context: int = CONTEXT):
        super().__init__()
        self.conv = nn.Conv1d(features, width, context, padding=context // 2)
        self.rnn = nn.LSTM(width, width, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor]:
        x = torch.relu(self.conv(features.transpose(1, 2))).transpose(1, 2)
        x, _ = self.rnn(x)
        return (self.head(x),)
