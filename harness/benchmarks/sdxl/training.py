"""Training the proxy's networks (build_proxy.py runs these; seeded, one thread: the same weights each build).

- the VAE: AutoencoderKL learns to reconstruct the ``train`` pictures
  (mean squared error, a small KL term); its latents' spread sets the
  scaling factor, as SD's 0.18215 / SDXL's 0.13025 were set;
- the text encoders and the UNet together: epsilon prediction (Min-SNR-5
  weighted) on the scaled latents under SDXL's training noise schedule
  (schedule.py), at the timesteps of the proxy's Euler schedule, the
  caption replaced by the negative prompt one time in ten so that
  classifier-free guidance has an unconditional branch to push away from;
- the CLIP score's TinyClip: CLIP's symmetric contrastive loss over
  (picture, caption) pairs;
- the FID's TinyInception: the five attributes of each picture, one
  cross-entropy each.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn import functional as F

from . import schedule

SEED = 2024
MIN_SNR = 5.0


def _log(what: str, step: int, steps: int, loss: float, started: float) -> None:
    if step % max(1, steps // 5) == 0 or step == steps - 1:
        print(f"{what}: step {step:5d}/{steps}  loss {loss:.4f}  {time.perf_counter() - started:5.0f} s", flush=True)


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in -1..1 (the VAE's range)."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()


def _one_cycle(optimiser, lr: float, steps: int):
    return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)


def train_vae(images: np.ndarray, steps: int, batch: int = 16, crop: int = 32, lr: float = 2e-3,
              kl_weight: float = 1e-5):
    """The VAE on random ``crop``-pixel squares (aligned to the latent grid): a quarter of the work of
    whole pictures for convolutions that see the same neighbourhoods. (Whole pictures, whose
    GroupNorm statistics are the ones generation sees, took three times as long and, in as many
    steps, drew worse pictures: FID 1571 against 618.)"""
    from .model import VAE_SCALE_FACTOR, make_vae

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    vae = make_vae().train()
    pixels = to_unit_range(images)
    cells = (pixels.shape[-1] - crop) // VAE_SCALE_FACTOR + 1
    optimiser = torch.optim.Adam(vae.parameters(), lr=lr)
    cycle = _one_cycle(optimiser, lr, steps)
    started = time.perf_counter()
    for step in range(steps):
        top, left = (int(c) * VAE_SCALE_FACTOR for c in rng.integers(0, cells, 2))
        x = pixels[rng.integers(0, len(pixels), batch), :, top:top + crop, left:left + crop]
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        loss = F.mse_loss(reconstruction, x) + kl_weight * posterior.kl().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        cycle.step()
        _log("vae", step, steps, loss.item(), started)
    return vae.eval()


@torch.no_grad()
def latent_moments(vae, images: np.ndarray, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the VAE's posterior for every picture."""
    means, stds = [], []
    pixels = to_unit_range(images)
    for start in range(0, len(pixels), chunk):
        posterior = vae.encode(pixels[start:start + chunk]).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def scaling_factor(means: torch.Tensor) -> float:
    """1 / the latents' standard deviation, rounded to a multiple of 1/1024 (exact in float32)."""
    return round(1024 / float(means.std())) / 1024


def train_pipeline(pipeline, means, stds, ids, ids_2, negative, negative_2, timesteps, steps: int,
                   batch: int = 32, lr: float = 2e-3, drop: float = 0.1):
    """The text encoders and the UNet of ``pipeline`` (model.TinySDXLPipeline) learn to predict the noise.

    Only at ``timesteps``, the proxy's schedule: the UNet is fitted to the
    noise levels it will see, which a few minutes of CPU can teach it.
    """
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED + 1)
    rng = np.random.default_rng(SEED + 1)
    cumprod = torch.from_numpy(schedule.alphas_cumprod())
    levels = torch.as_tensor(np.asarray(timesteps).astype(np.int64))
    # Min-SNR-5 weighting (Hang et al. 2023) of the epsilon loss: min(SNR, 5) / SNR. The nearly
    # clean levels, whose noise is hard to tell and which change the picture least, would
    # otherwise dominate the loss; the noisy ones decide shape and colour.
    snr = cumprod / (1 - cumprod)
    weights = torch.clamp(snr, max=MIN_SNR) / snr
    parts = (pipeline.text_encoder, pipeline.text_encoder_2, pipeline.unet)
    for part in parts:
        part.train()
    parameters = [p for part in parts for p in part.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-4)
    cycle = _one_cycle(optimiser, lr, steps)
    scale = pipeline.scaling_factor
    ids, ids_2 = torch.from_numpy(ids), torch.from_numpy(ids_2)
    negative, negative_2 = torch.from_numpy(negative), torch.from_numpy(negative_2)
    started = time.perf_counter()
    for step in range(steps):
        pick = torch.from_numpy(rng.integers(0, len(means), batch))
        z0 = (means[pick] + stds[pick] * torch.randn(means[pick].shape, generator=generator)) * scale
        t = levels[torch.randint(0, len(levels), (batch,), generator=generator)]
        noise = torch.randn(z0.shape, generator=generator)
        a = cumprod[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * z0 + (1 - a).sqrt() * noise
        unconditional = torch.from_numpy(rng.random(batch) < drop)[:, None]
        batch_ids = torch.where(unconditional, negative.expand(batch, -1), ids[pick])
        batch_ids_2 = torch.where(unconditional, negative_2.expand(batch, -1), ids_2[pick])
        embeds, pooled = pipeline.encode(batch_ids, batch_ids_2)
        time_ids = pipeline.add_time_ids.expand(batch, -1)
        predicted = pipeline.unet(noisy, t, encoder_hidden_states=embeds,
                                  added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}, return_dict=False)[0]
        loss = (weights[t] * ((predicted - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimiser.step()
        cycle.step()
        _log("unet", step, steps, loss.item(), started)
    return pipeline.eval()


def train_clip(images: np.ndarray, ids: np.ndarray, steps: int, batch: int = 128, lr: float = 3e-3):
    from .features import TinyClip, clip_pixels

    torch.manual_seed(SEED + 2)
    rng = np.random.default_rng(SEED + 2)
    model = TinyClip().train()
    pixels = clip_pixels(list(images))
    ids = torch.from_numpy(ids)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    cycle = _one_cycle(optimiser, lr, steps)
    started = time.perf_counter()
    for step in range(steps):
        pick = torch.from_numpy(rng.choice(len(pixels), batch, replace=False))
        image = F.normalize(model.encode_image(pixels[pick]), dim=-1)
        text = F.normalize(model.encode_text(ids[pick]), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image @ text.T
        target = torch.arange(batch)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        cycle.step()
        _log("clip", step, steps, loss.item(), started)
    return model.eval()


def train_inception(images: np.ndarray, labels: np.ndarray, classes, steps: int, batch: int = 64, lr: float = 3e-3):
    from .features import TinyInception, fid_pixels

    torch.manual_seed(SEED + 3)
    rng = np.random.default_rng(SEED + 3)
    model = TinyInception(tuple(classes)).train()
    pixels = fid_pixels(list(images))
    labels = torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    cycle = _one_cycle(optimiser, lr, steps)
    started = time.perf_counter()
    for step in range(steps):
        pick = torch.from_numpy(rng.integers(0, len(pixels), batch))
        outputs = model(pixels[pick])
        loss = sum(F.cross_entropy(out, labels[pick, k]) for k, out in enumerate(outputs)) / len(outputs)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        cycle.step()
        _log("inception", step, steps, loss.item(), started)
    return model.eval()

