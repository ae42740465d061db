"""The proxy pipeline: Stable Diffusion XL's, built small from configs with diffusers and transformers.

The parts are SDXL's: two CLIP text encoders (``CLIPTextModel`` as CLIP
ViT-L, ``CLIPTextModelWithProjection`` as OpenCLIP bigG: quick-GELU and GELU,
as there), whose penultimate hidden states are concatenated into the
cross-attention context while the second one's projected pooled output and
the six size/crop numbers condition the ``UNet2DConditionModel`` (addition
embedding ``text_time``), and the ``AutoencoderKL`` decoder (a scale factor of 8).
Everything is tiny: 64x64 pictures from 4x8x8 latents.

``TinySDXLPipeline.forward`` is what MLPerf's SUT runs per batch
(``backend_pytorch.py``: ``encode_tokens``, then ``StableDiffusionXLPipeline``
with ``output_type="pt"``): the captions and the negative prompt encoded
with both encoders, classifier-free guidance (negative first), the Euler
steps of the schedule it is given (task.py computes it as diffusers'
``EulerDiscreteScheduler`` does), the VAE decode and ``(image / 2 + 0.5).clamp(0, 1)``.
Inputs, in order: ``input_ids``, ``input_ids_2``, ``negative_input_ids``,
``negative_input_ids_2`` (int64 [N, 77]), ``latents`` (float32 [N, 4, 8, 8]),
``timesteps`` [S], ``sigmas`` [S + 1], ``init_noise_sigma`` [1],
``guidance_scale`` [1] (float32); output ``images`` float32 [N, 3, 64, 64] in [0, 1].

The Euler update is EulerDiscreteScheduler.step with its defaults
(s_churn = 0, so no noise is added; epsilon prediction), written out so that
the loop exports to ONNX (unrolled over the schedule's length, which the
exported graph then fixes); tests compare the images with diffusers' own
StableDiffusionXLPipeline on the same components. One difference: diffusers
skips the unconditional branch when guidance_scale <= 1, this module always
runs both (the same images at exactly 1; MLPerf's guidance is 8).
"""
from __future__ import annotations

import torch
from torch import nn

from .clip_tokenizer import BOS, CONTEXT_LENGTH, EOS, PAD_2, proxy_vocabulary

IMAGE_SIZE = 64
VAE_SCALE_FACTOR = 8  # 2 ** (len(vae block_out_channels) - 1), as SDXL's VAE
LATENT_CHANNELS = 4
LATENT_SIZE = IMAGE_SIZE // VAE_SCALE_FACTOR
TEXT_WIDTH = 32  # each encoder's hidden size; the UNet's context is both, concatenated
PROJECTION_DIM = 32  # text_encoder_2's pooled projection
TIME_EMBED_DIM = 8  # addition_time_embed_dim (SDXL: 256)
INPUTS = ("input_ids", "input_ids_2", "negative_input_ids", "negative_input_ids_2", "latents", "timesteps",
          "sigmas", "init_noise_sigma", "guidance_scale")
OUTPUTS = ("images",)

_VOCAB, _ = proxy_vocabulary()
VOCAB_SIZE = len(_VOCAB)


def text_encoder_config(second: bool) -> dict:
    """CLIPTextConfig keywords of text_encoder (``second=False``) or text_encoder_2."""
    return dict(vocab_size=VOCAB_SIZE, hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CONTEXT_LENGTH,
                hidden_act="gelu" if second else "quick_gelu", projection_dim=PROJECTION_DIM,
                bos_token_id=_VOCAB[BOS], eos_token_id=_VOCAB[EOS],
                pad_token_id=_VOCAB[PAD_2] if second else _VOCAB[EOS])


def unet_config() -> dict:
    """UNet2DConditionModel keywords: SDXL's block pattern (plain first block, cross-attention below), in small."""
    return dict(
        sample_size=LATENT_SIZE, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 32), layers_per_block=1, transformer_layers_per_block=1,
        attention_head_dim=(1, 2), norm_num_groups=8, cross_attention_dim=2 * TEXT_WIDTH,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=PROJECTION_DIM + 6 * TIME_EMBED_DIM,
    )


def vae_config() -> dict:
    """AutoencoderKL keywords: four blocks (a scale factor of 8, as SDXL's VAE), 4 latent channels."""
    return dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(16, 16, 32, 32),
                layers_per_block=1, latent_channels=LATENT_CHANNELS, norm_num_groups=8, sample_size=IMAGE_SIZE)


def make_text_encoders():
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    return (CLIPTextModel(CLIPTextConfig(**text_encoder_config(False))),
            CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder_config(True))))


def make_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**unet_config())


def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(**vae_config())


class TinySDXLPipeline(nn.Module):
    """The whole text-to-image pass (module doc); the VAE keeps only its decoder."""

    def __init__(self):
        super().__init__()
        self.text_encoder, self.text_encoder_2 = make_text_encoders()
        self.unet = make_unet()
        self.vae = make_vae()
        self.vae.encoder = None  # generation only decodes
        self.vae.quant_conv = None
        # The VAE's scaling_factor (SDXL: 0.13025), measured when the proxy was built.
        self.register_buffer("scaling_factor", torch.ones(()))
        # original_size + crops_coords_top_left + target_size: the pipeline's defaults for a 64x64 picture.
        self.register_buffer("add_time_ids", torch.tensor([[IMAGE_SIZE, IMAGE_SIZE, 0, 0, IMAGE_SIZE, IMAGE_SIZE]],
                                                          dtype=torch.float32), persistent=False)

    def encode(self, ids, ids_2):
        """(prompt_embeds [N, 77, 64], pooled [N, 32]) as MLPerf's encode_tokens makes them."""
        first = self.text_encoder(ids, output_hidden_states=True)
        second = self.text_encoder_2(ids_2, output_hidden_states=True)
        embeds = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
        return embeds, second.text_embeds

    def denoise(self, latents, embeds, pooled, timestep, sigma, guidance_scale):
        """The guided noise prediction for ``latents`` (one Euler step's model call)."""
        model_input = torch.cat([latents, latents]) / ((sigma ** 2 + 1) ** 0.5)
        time_ids = self.add_time_ids.to(model_input.dtype).expand(model_input.shape[0], -1)
        noise = self.unet(model_input, timestep, encoder_hidden_states=embeds,
                          added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}, return_dict=False)[0]
        uncond, text = noise.chunk(2)
        return uncond + guidance_scale * (text - uncond)

    def forward(self, input_ids, input_ids_2, negative_input_ids, negative_input_ids_2, latents, timesteps, sigmas,
                init_noise_sigma, guidance_scale):
        embeds, pooled = self.encode(input_ids, input_ids_2)
        negative, negative_pooled = self.encode(negative_input_ids, negative_input_ids_2)
        embeds = torch.cat([negative, embeds])
        pooled = torch.cat([negative_pooled, pooled])
        guidance = guidance_scale.reshape(())
        sample = latents * init_noise_sigma.reshape(())
        # A Python loop of the schedule's length: traced for ONNX, it unrolls.
        for i in range(int(timesteps.shape[0])):
            sigma = sigmas[i]
            noise = self.denoise(sample, embeds, pooled, timesteps[i], sigma, guidance)
            original = sample - sigma * noise
            derivative = (sample - original) / sigma
            sample = sample + derivative * (sigmas[i + 1] - sigma)
        image = self.vae.decode(sample / self.scaling_factor, return_dict=False)[0]
        return ((image / 2 + 0.5).clamp(0, 1),)
