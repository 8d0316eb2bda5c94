"""Model files: where they live, whether they may be loaded, what they are, and merging them.

=====================  ==========================================================================
module                 what it owns
=====================  ==========================================================================
``store``              the manifest (``models/manifest.json``), search folders, ``resolve`` /
                       ``locate`` of bare names, ``verify``, ``pull``
``identity``           the one hash of a model file or folder (``model_sha256``) and the stage
                       key record (``identity``): sidecars, stage keys and merge metadata agree
``trust``              the one pickle policy (``check_pickle``, ``load_weights``), raising
                       :class:`~autofix.errors.UnsafeModelFile`; what ``--allow-pickle`` means
``safetensors_io``     the one ``.safetensors`` header validator (``read_header``), a lazy
                       reader and a streaming writer
``merge``              ``make-inpaint``: add-difference merge into a loadable inpainting model
=====================  ==========================================================================

Loaders of particular model kinds live with their users: Stable Diffusion in
:mod:`autofix.inpaint.sd_loading`, YOLO in :mod:`autofix.detect.yolo`, SAM in
:mod:`autofix.detect.sam`; each goes through ``store``, ``trust`` and ``safetensors_io``.
(The top-level ``models/`` folder is where users put files; this package is code.)
"""
