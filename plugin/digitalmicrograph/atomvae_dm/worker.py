"""The out-of-process side: ``python worker.py request.json``, started by
:class:`atomvae_dm.runner.OutOfProcess` in a Python where the atomvae package
loads. Reads the frames (.npy), runs :func:`atomvae_dm.pipeline.run`, writes the
arrays (.npz) and meta (.json); prints one JSON object per line on stdout:
``{"progress": f, "phase": p}`` while running, then ``{"done": true}``,
``{"cancelled": true}`` (exit 3) or ``{"error": "..."}`` (exit 1). Cancelled when
the request's ``cancel`` file appears.
"""

from __future__ import annotations

import json
import os
import sys


def say(**record) -> None:
    print(json.dumps(record), flush=True)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        request = json.load(handle)
    # This file may run by path, from a folder that is not installed.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import numpy as np

    from atomvae_dm import Cancelled, pipeline

    def progress(fraction: float, phase: str) -> bool:
        say(progress=fraction, phase=phase)
        return not os.path.exists(request["cancel"])

    try:
        frames = np.load(request["frames"], allow_pickle=False)
        arrays, meta = pipeline.run(
            request["task"], frames, request["pixel_size"], request["settings"], request["analysis"], progress
        )
        partial = request["out"] + ".part.npz"
        np.savez(partial, **arrays)
        os.replace(partial, request["out"])
        with open(request["meta"], "w", encoding="utf-8") as handle:
            json.dump(meta, handle)
    except Cancelled:
        say(cancelled=True)
        return 3
    except Exception as error:  # noqa: BLE001 - reported to the DM side, which shows it
        say(error=f"{type(error).__name__}: {error}")
        return 1
    say(done=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
