"""ControlNet for the diffusion inpainter: control images built in, models loaded offline.

Control images (:func:`control_image`), made on each region's crop at its processing size,
``float32 (h, w, 3)`` in ``[0, 1]``:

* ``inpaint``: the crop with the masked pixels set to ``-1`` (the ControlNet-v1.1 inpaint
  model's convention, as diffusers' examples and A1111's ``inpaint_only`` build it);
* ``tile``: the crop itself;
* ``canny``: OpenCV Canny edges of the crop (thresholds 100/200, lllyasviel's defaults);
* ``openpose``: the region's MediaPipe landmarks drawn OpenPose-style on black: a hand's 21
  points as the 20 coloured bones and red joints of OpenPose's hand model (the usual way to
  fix hand anatomy); a face as OpenPose's face points, white dots as controlnet_aux's
  ``draw_facepose`` draws them (radius 3 at 512 px, no anti-aliasing): a 468/478-point face
  mesh becomes OpenPose's 70-point layout (:func:`face_points`: the 68 iBUG/dlib points,
  plus the two pupils from the iris centres of a 478-point mesh), BlazeFace's 6 key points
  are drawn as they are.

``depth``, ``lineart`` and ``softedge`` need an annotator model autofix does not ship: they
take a control image made elsewhere (:func:`given_control`; any type may), and without one
the config is refused with one line.

Models (:func:`load_controlnet`): a diffusers folder (``config.json`` +
``diffusion_pytorch_model.safetensors``) or one ``.safetensors`` file as A1111
(``models/ControlNet``) and ComfyUI (``models/controlnet``) keep them, in original
(``control_model.*``) or diffusers key names. A single file needs no network: its
architecture is the base model's UNet's (a ControlNet is the UNet's encoder half), so the
config is derived from the loaded pipeline's UNet (4 input channels).
"""

from __future__ import annotations

import colorsys
import inspect
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, show_path
from ..types import FACE_MESH_POINTS

#: Control types with a built-in control image (no annotator weights needed).
BUILT_IN = ("inpaint", "tile", "canny", "openpose")
#: Control types that need an annotator model (not shipped).
NEEDS_ANNOTATOR = ("depth", "lineart", "softedge")
CONTROL_TYPES = BUILT_IN + NEEDS_ANNOTATOR

#: OpenPose's hand bones (MediaPipe's 21 points use the same order).
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))


#: The MediaPipe face-mesh index (or two, averaged) of each of the 68 iBUG / dlib points, in
#: iBUG order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips
#: 60-67), which OpenPose's face model uses for its points 0-67. The correspondence published
#: by Peizhi Yan, "Mediapipe_2_Dlib_Landmarks" (github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks,
#: ``mediapipe2dlib/mp2dlib.py``; "right"/"left" are the subject's, as in both layouts).
MESH_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # jaw, from the subject's right ear to the left one
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361,), (323,), (454,), (356,),
    # right brow, left brow (each from the outer end inwards / inner end outwards)
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),
    # nose bridge top to tip, then the nostril base from right to left
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # right eye, left eye (outer/inner corners, upper lid, lower lid)
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips: right corner, upper, left corner, lower
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
#: OpenPose's points 68 and 69 (the subject's right and left pupils): the iris centres of
#: MediaPipe's 478-point mesh (468 with contour 469-472 is the right eye's, 473 the left's).
MESH_PUPILS = (468, 473)
#: Mesh sizes: MediaPipe's face mesh, without and with the 10 iris points.
MESH_SIZES = FACE_MESH_POINTS


def face_points(landmarks: np.ndarray) -> np.ndarray:
    """OpenPose face points ``(K, 2)`` of one face's landmarks ``(N, 2)``: a 468-point mesh gives
    the 68 iBUG points (:data:`MESH_TO_IBUG68`, pairs averaged), a 478-point one those plus the
    two pupils (OpenPose's 70); anything else (BlazeFace's 6 key points) is returned as is."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    if len(pts) not in MESH_SIZES:
        return pts
    out = [pts[list(idx)].mean(axis=0) for idx in MESH_TO_IBUG68]
    if len(pts) == 478:
        out += [pts[i] for i in MESH_PUPILS]
    return np.stack(out)


def control_image(kind: str, crop_rgb: np.ndarray, crop_mask: np.ndarray,
                  hands: Sequence[np.ndarray] = (), faces: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The ``kind`` control image of a crop (see the module docstring); ``hands``/``faces`` are
    landmark arrays in crop pixels."""
    import cv2

    if kind == "inpaint":
        out = crop_rgb.astype(np.float32) / 255.0
        out[crop_mask >= 128] = -1.0
        return out
    if kind == "tile":
        return crop_rgb.astype(np.float32) / 255.0
    if kind == "canny":
        edges = cv2.Canny(cv2.cvtColor(np.ascontiguousarray(crop_rgb), cv2.COLOR_RGB2GRAY), 100, 200)
        return np.repeat(edges[:, :, None], 3, axis=2).astype(np.float32) / 255.0
    if kind == "openpose":
        return openpose_image(crop_rgb.shape[:2], hands, faces).astype(np.float32) / 255.0
    raise ConfigError(f"control type {kind!r} needs an annotator model autofix does not ship; "
                      f"built-in types: {', '.join(BUILT_IN)}")


def openpose_image(shape_hw: tuple[int, int], hands: Sequence[np.ndarray], faces: Sequence[np.ndarray]) -> np.ndarray:
    """OpenPose-style drawing (uint8 RGB on black) of hand skeletons and face points
    (:func:`face_points` of each face's landmarks)."""
    import cv2

    h, w = int(shape_hw[0]), int(shape_hw[1])
    canvas = np.zeros((h, w, 3), np.uint8)
    thick = max(1, round(min(h, w) / 128))
    for pts in hands:
        p = np.asarray(pts, np.float64)[:, :2]
        if p.shape[0] != 21 or not np.isfinite(p).all():
            continue
        for n, (a, b) in enumerate(HAND_EDGES):
            r, g, bl = colorsys.hsv_to_rgb(n / len(HAND_EDGES), 1.0, 1.0)
            cv2.line(canvas, _pt(p[a]), _pt(p[b]), (int(r * 255), int(g * 255), int(bl * 255)), 2 * thick, cv2.LINE_AA)
        for q in p:
            cv2.circle(canvas, _pt(q), 2 * thick, (255, 0, 0), -1, cv2.LINE_AA)  # RGB red joints
    dot = face_dot_radius(h, w)
    for pts in faces:
        for q in face_points(pts):
            if np.isfinite(q).all():
                cv2.circle(canvas, _pt(q), dot, (255, 255, 255), -1)  # as controlnet_aux: filled, no AA
    return canvas


def face_dot_radius(h: int, w: int) -> int:
    """Face dots' radius: controlnet_aux's 3 px at 512, scaled with the crop's shorter side."""
    return max(1, round(3 * min(h, w) / 512))


def _pt(q: np.ndarray) -> tuple[int, int]:
    return int(round(float(q[0]))), int(round(float(q[1])))


def region_landmarks(region: Any, box: tuple[int, int, int, int], size: tuple[int, int]
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(hands, faces)``: the region's detections' landmarks mapped into crop pixels
    (``box`` cut out of the image and resized to ``size``)."""
    x0, y0, x1, y1 = box
    sx, sy = size[0] / max(1, x1 - x0), size[1] / max(1, y1 - y0)
    hands, faces = [], []
    for det in getattr(region, "detections", ()):
        lm = getattr(det, "landmarks", None)
        if lm is None:
            continue
        pts = np.asarray(lm, np.float64)[:, :2]
        pts = np.stack([(pts[:, 0] - x0) * sx, (pts[:, 1] - y0) * sy], axis=1)
        (hands if det.label == "hand" and len(pts) == 21 else faces).append(pts)
    return hands, faces


def given_control(path: str, where: str, shape_hw: tuple[int, ...], crop: Any) -> np.ndarray:
    """A user-supplied control image (depth map, line art, ...) cut like the crop: ``path`` is a
    file, or a folder holding one per input under the input's relative path ``where``."""
    import cv2

    from ..plan.crop import cut

    p = Path(path).expanduser()
    file = p / where if p.is_dir() else p
    arr = cv2.imread(str(file), cv2.IMREAD_COLOR) if file.is_file() else None
    if arr is None:
        raise ConfigError(f"{show_path(file)}: control image missing or unreadable")
    if arr.shape[:2] != tuple(shape_hw[:2]):
        raise ConfigError(f"{show_path(file)}: control image is {arr.shape[1]}x{arr.shape[0]}, "
                          f"the input is {shape_hw[1]}x{shape_hw[0]}")
    return cut(np.ascontiguousarray(arr[:, :, ::-1]), crop).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- models

def controlnet_config(unet_config: Any) -> dict[str, Any]:
    """A ControlNet config matching a (loaded) UNet: its encoder half, 4 input channels."""
    from diffusers import ControlNetModel

    params = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    cfg = {k: v for k, v in dict(unet_config).items() if k in params}
    cfg["in_channels"] = 4
    return cfg


def load_controlnet(path: str | Path, unet: Any, dtype: Any, allow_pickle: bool | None = None) -> Any:
    """A ``ControlNetModel`` from a diffusers folder or a single ``.safetensors`` file; the
    architecture of a single file is the base UNet's (see the module docstring). Pickle weights
    in a folder follow the one pickle policy (:mod:`autofix.modelfiles.trust`); ``.safetensors``
    headers are validated first (a lying one is one line)."""
    from diffusers import ControlNetModel

    from ..modelfiles import trust
    from ..modelfiles.safetensors_io import read_header

    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ConfigError(f"{show_path(p)}: not a diffusers ControlNet folder (no config.json)")
        use = trust.use_safetensors([p], allow_pickle)
        return ControlNetModel.from_pretrained(p, torch_dtype=dtype, use_safetensors=use)
    if not p.is_file():
        raise ConfigError(f"{show_path(p)}: ControlNet model not found (a diffusers folder or a .safetensors file; "
                          "A1111 keeps them in models/ControlNet, ComfyUI in models/controlnet)")
    if p.suffix.lower() != ".safetensors":
        raise ConfigError(f"{show_path(p)}: ControlNet files are read as .safetensors only")
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint
    from safetensors.torch import load_file

    config = controlnet_config(unet.config)
    read_header(p)
    state = load_file(str(p))
    state = {k.removeprefix("control_model."): v for k, v in state.items()} if any(
        k.startswith("control_model.") for k in state) else state
    try:
        if "time_embedding.linear_1.weight" not in state:
            state = convert_controlnet_checkpoint(state, config)
        # the hint encoder's widths are the file's own (16, 32, 96, 256 in lllyasviel's models)
        emb = "controlnet_cond_embedding."
        config["conditioning_embedding_out_channels"] = tuple(
            int(state[f"{emb}{name}.weight"].shape[0]) for name in ("conv_in", "blocks.1", "blocks.3", "blocks.5"))
        model = ControlNetModel.from_config(config)
        missing, _ = model.load_state_dict(state, strict=False)
    except (KeyError, RuntimeError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{show_path(p)}: not a ControlNet for this model's architecture ({first})") from None
    if missing:
        raise ConfigError(f"{show_path(p)}: not a ControlNet for this model's architecture "
                          f"(first missing weight: {sorted(missing)[0]})")
    return model.to(dtype=dtype)
