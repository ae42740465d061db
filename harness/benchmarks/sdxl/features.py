"""The feature extractors of the proxy's accuracy script, in place of open_clip ViT-B/32 and Inception-v3.

MLPerf's ``accuracy_coco.py`` scores with two pretrained networks that
cannot be downloaded here; the proxy has small ones of the same roles,
trained by build_proxy.py on the proxy's real pictures and committed:

- ``TinyClip`` (``proxy/clip_score.pt``): an image tower and a CLIP text
  tower (``CLIPTextModelWithProjection``, pooled at the end-of-text token)
  trained contrastively on (picture, caption) pairs, as CLIP is. The image
  is prepared as open_clip's ``preprocess`` prepares it: the shorter side
  resized (bicubic) to the tower's input, centre crop, OpenAI's mean and std;
  the caption tokenized as ``open_clip.tokenize`` does (77 ids, padded with 0).
- ``TinyInception`` (``proxy/fid_features.pt``): a small convolutional
  network trained to classify the pictures' attributes, as Inception-v3 was
  trained on ImageNet; FID reads its globally pooled last block
  (``pool_features``, 32 numbers) as pytorch-fid reads Inception's pool_3
  (2048 of 5,000 pictures; here 32 of 128). The picture is prepared as pytorch-fid prepares it: ``ToTensor``
  (0..1), resized bilinearly to the network's input, scaled to -1..1.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .clip_tokenizer import BOS, CONTEXT_LENGTH, EOS, PAD_2, proxy_vocabulary

CLIP_INPUT = 32
CLIP_EMBED = 32
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip's OPENAI_DATASET_MEAN
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
FID_INPUT = 64
FID_DIMS = 32


def clip_text_config() -> dict:
    vocab, _ = proxy_vocabulary()
    return dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=CONTEXT_LENGTH, projection_dim=CLIP_EMBED,
                bos_token_id=vocab[BOS], eos_token_id=vocab[EOS], pad_token_id=vocab[PAD_2])


class TinyClip(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection

        self.image_tower = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (CLIP_INPUT // 8) ** 2, 64), nn.GELU(), nn.Linear(64, CLIP_EMBED))
        self.text_tower = CLIPTextModelWithProjection(CLIPTextConfig(**clip_text_config()))
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image_tower(pixels)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_tower(input_ids=ids).text_embeds


class TinyInception(nn.Module):
    def __init__(self, classes: tuple[int, ...] = ()):
        super().__init__()
        self.blocks = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
            # SiLU, not ReLU, last: no pool feature is ever exactly 0 for a whole set of
            # pictures, which would leave the 32 x 32 covariance singular
            nn.Conv2d(32, FID_DIMS, 3, padding=1), nn.SiLU())
        # Heads used in training only; the state dict keeps them so the file is what was trained.
        self.heads = nn.ModuleList(nn.Linear(FID_DIMS, n) for n in classes)

    def pool_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, FID_DIMS]: the last block averaged over the picture (pytorch-fid's adaptive_avg_pool2d)."""
        return self.blocks(pixels).mean(dim=(2, 3))

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        features = self.pool_features(pixels)
        return [head(features) for head in self.heads]


def clip_pixels(images: list[np.ndarray]) -> torch.Tensor:
    """open_clip's preprocess for each uint8 [H, W, 3] picture -> float32 [N, 3, 32, 32]."""
    from PIL import Image

    out = np.empty((len(images), 3, CLIP_INPUT, CLIP_INPUT), np.float32)
    mean, std = np.array(OPENAI_MEAN, np.float32), np.array(OPENAI_STD, np.float32)
    for n, array in enumerate(images):
        picture = Image.fromarray(np.asarray(array, np.uint8))
        width, height = picture.size
        # torchvision's Resize(int): the shorter side to the input size, the longer truncated in proportion
        if width <= height:
            size = (CLIP_INPUT, int(CLIP_INPUT * height / width))
        else:
            size = (int(CLIP_INPUT * width / height), CLIP_INPUT)
        picture = picture.resize(size, Image.BICUBIC)
        # torchvision's CenterCrop rounds the offsets
        left, top = int(round((size[0] - CLIP_INPUT) / 2.0)), int(round((size[1] - CLIP_INPUT) / 2.0))
        picture = picture.crop((left, top, left + CLIP_INPUT, top + CLIP_INPUT)).convert("RGB")
        out[n] = ((np.asarray(picture, np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
    return torch.from_numpy(out)


def fid_pixels(images: list[np.ndarray]) -> torch.Tensor:
    """pytorch-fid's input for each uint8 [H, W, 3] picture -> float32 [N, 3, 64, 64] in -1..1."""
    batch = torch.from_numpy(np.stack([np.asarray(a, np.uint8) for a in images]).astype(np.float32) / 255.0)
    batch = batch.permute(0, 3, 1, 2)
    if batch.shape[2:] != (FID_INPUT, FID_INPUT):
        batch = nn.functional.interpolate(batch, size=(FID_INPUT, FID_INPUT), mode="bilinear", align_corners=False)
    return 2 * batch - 1
