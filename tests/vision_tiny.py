"""Tiny, randomly initialised YOLO and SAM models for tests (built offline in seconds).

They run the real loaders and predictors end to end; their outputs are arbitrary, so tests
check shapes, types and plumbing with them, not quality. Import only after
``pytest.importorskip`` of ultralytics / segment_anything (both need torchvision).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Sequence


def build_tiny_yolo(
    path: str | Path, names: Sequence[str] = ("face", "hand"), seg: bool = False, seed: int = 0
) -> Path:
    """Save a YOLOv8n-shaped model with ``len(names)`` classes as an ultralytics ``.pt``.

    Built from ultralytics' own ``yolov8n.yaml`` / ``yolov8n-seg.yaml`` (``nc`` replaced)
    and written with ``YOLO.save``, i.e. the same checkpoint format as ADetailer's files.
    """
    import torch

    from autofix.detect.yolo import _import_yolo

    YOLO = _import_yolo()  # imports ultralytics with its global patches undone
    from ultralytics.nn.tasks import DetectionModel, SegmentationModel, yaml_model_load

    yaml_name = "yolov8n-seg.yaml" if seg else "yolov8n.yaml"
    cfg = yaml_model_load(yaml_name)
    cfg["nc"] = len(names)
    torch.manual_seed(seed)
    net = (SegmentationModel if seg else DetectionModel)(cfg, nc=len(names), verbose=False)
    net.names = dict(enumerate(names))
    net.task = "segment" if seg else "detect"
    wrapper = YOLO(yaml_name)
    wrapper.model = net
    out = Path(path)
    wrapper.save(str(out))
    return out


def build_tiny_sam(img_size: int = 256, embed_dim: int = 64, depth: int = 2, prompt_dim: int = 32):
    """An untrained ``segment_anything.Sam`` a few MB big (same module classes as SAM)."""
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    patch = 16
    grid = img_size // patch
    encoder = ImageEncoderViT(
        depth=depth,
        embed_dim=embed_dim,
        img_size=img_size,
        mlp_ratio=4,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=2,
        patch_size=patch,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=[depth - 1],
        window_size=4,
        out_chans=prompt_dim,
    )
    prompt = PromptEncoder(
        embed_dim=prompt_dim, image_embedding_size=(grid, grid), input_image_size=(img_size, img_size), mask_in_chans=8
    )
    decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=2, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
        transformer_dim=prompt_dim,
        iou_head_depth=3,
        iou_head_hidden_dim=32,
    )
    return Sam(encoder, prompt, decoder, pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def save_tiny_sam(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny SAM's ``state_dict`` to ``path`` (a ``.pth`` like Meta's checkpoints)."""
    import torch

    torch.manual_seed(seed)
    out = Path(path)
    torch.save(build_tiny_sam().state_dict(), out)
    return out
