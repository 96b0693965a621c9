"""Tiny random-weight models for the training tests, built offline from their config classes: a CLIP
tokenizer from a small vocabulary, a Stable Diffusion pipeline (UNet, VAE, CLIP text encoder), a LoRA saved the
way kohya's sd-scripts saves it, and a Qwen2-VL with its processor."""
from __future__ import annotations

import json
import string
from pathlib import Path

WORDS = ("a 3d animated character pixar style smooth shading sks front view side profile three quarter close up "
         "full body standing running smiling portrait warm cool light lighting soft contrast colours blue red "
         "green white grey black rendered cg clean cutout on transparent background shot medium long figure "
         "upper and with camera static pan").split()


def clip_tokenizer_files(folder: Path) -> Path:
    """vocab.json + merges.txt of a CLIP BPE tokenizer: every letter alone and word-final, the listed words
    whole (so they are one token each, as common words are in CLIP's vocabulary)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", "!", ",", ".", "-", "'", *string.digits]
    tokens += [c for c in string.ascii_lowercase] + [c + "</w>" for c in string.ascii_lowercase + string.digits]
    merges, seen = [], set(tokens)
    for word in sorted(set(w for w in WORDS if w.isalpha())):
        current = word[0]
        for k, ch in enumerate(word[1:], 1):
            last = k == len(word) - 1
            right = ch + "</w>" if last else ch
            merged = current + right
            if merged not in seen:
                merges.append(f"{current} {right}")
                seen.add(merged)
                tokens.append(merged)
            current = merged
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


def clip_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    clip_tokenizer_files(folder)
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77,
                        pad_token="<|endoftext|>")
    tok.save_pretrained(str(folder))
    return tok


def tiny_sd_pipeline(folder: Path) -> Path:
    """A Stable Diffusion pipeline folder (diffusers layout) with random weights: 32-px images in seconds."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer(folder / "_tokenizer")
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=32)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                                        num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


PROJECTIONS = ("to_q", "to_k", "to_v", "q_proj", "v_proj")  # UNet attention, CLIP text attention


def kohya_lora(base: Path, path: Path, seed: int = 0, rank: int = 4, alpha: float = 2.0, scale: float = 0.5) -> Path:
    """A random LoRA over the base model's attention projections, saved with kohya's key names:
    `lora_unet_{module_path_with_underscores}.lora_down.weight` / `.lora_up.weight` / `.alpha`, and `lora_te_...`
    for the text encoder."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    g = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, model in (("lora_unet", UNet2DConditionModel.from_pretrained(str(base / "unet"))),
                          ("lora_te", CLIPTextModel.from_pretrained(str(base / "text_encoder")))):
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in PROJECTIONS:
                key = f"{prefix}_{name.replace('.', '_')}"
                state[f"{key}.lora_down.weight"] = torch.randn(rank, m.in_features, generator=g) * scale
                state[f"{key}.lora_up.weight"] = torch.randn(m.out_features, rank, generator=g) * scale
                state[f"{key}.alpha"] = torch.tensor(alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"ss_network_module": "networks.lora", "ss_network_dim": str(rank),
                                          "ss_network_alpha": str(alpha)})
    return path


QWEN_WORDS = "wooden metal glossy skin soft rim light low angle standing smiling arms raised".split()
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                "<|video_pad|>"]


def tiny_qwen2vl(folder: Path) -> Path:
    """A Qwen2-VL folder (model + processor) with random weights and a word-level tokenizer of QWEN_WORDS."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                              Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor)

    torch.manual_seed(0)
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(QWEN_WORDS)}}
    vocab.update({s: 200 + k for k, s in enumerate(QWEN_SPECIAL)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="<|endoftext|>",
                                        eos_token="<|im_end|>", additional_special_tokens=QWEN_SPECIAL)
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=56 * 56 * 4),
                                 tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]}, bos_token_id=200,
                         eos_token_id=202, pad_token_id=200),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=205, video_token_id=206, vision_start_token_id=203, vision_end_token_id=204)
    Qwen2VLForConditionalGeneration(config).save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    return folder
