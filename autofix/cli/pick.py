"""``autofix pick OUT IMAGE --stage NAME --region I --candidate K``: promote a kept candidate
(see :mod:`autofix.run.pick`). Importing this module is cheap (``--help`` stays fast)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("pick", help="promote one kept candidate of a region (after fix --keep-candidates)",
                       description="Promote candidate K of region I in stage NAME of IMAGE: re-composite the "
                       "stage, rewrite the final image, the stage snapshots and the sidecar atomically "
                       "(chosen_candidate: K, picked_by: user); a re-run of fix keeps the pick. The candidates "
                       "are under OUT/_autofix/candidates/ and side by side in the report.")
    p.add_argument("output", type=Path, metavar="OUT", help="an output folder of fix/remove/watch")
    p.add_argument("image", metavar="IMAGE", help="the input's path as the sidecar records it (e.g. sub/a.png), "
                   "or the final image's path")
    p.add_argument("--stage", required=True, metavar="NAME", help="stage name (e.g. face, hand)")
    p.add_argument("--region", required=True, type=int, metavar="I", help="region index in that stage (0-based)")
    p.add_argument("--candidate", required=True, type=int, metavar="K", help="candidate index (0-based)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def cmd_pick(args: argparse.Namespace) -> int:
    from ..run.pick import pick

    done = pick(args.output, args.image, args.stage, args.region, args.candidate)
    if args.json:
        print(json.dumps(done))
    else:
        was = "the original" if done["previous"] is None else f"candidate {done['previous']}"
        print(f"{done['image']}: stage {done['stage']} region {done['region']}: candidate {done['candidate']} "
              f"(was {was}); rewrote {done['output']} and {done['sidecar']}")
    return EXIT_OK
