"""atomvae in Gatan DigitalMicrograph (GMS): two commands for the front image.

``main("find-atoms")``: the U-Net's class probabilities, a label image of the atoms,
the atom table in the image's tags and a CSV beside the image.
``main("order-parameters")``: the whole rVAE pipeline (Kalinin et al., Sci. Adv. 2021)
on a stack: angle and z1 maps, the latent manifold and the latent histograms.

All science happens in the ``atomvae`` package, either inside GMS's Python
("in-process", GMS >= 3.6) or in a separate Python that this package starts
("out-of-process", older GMS or where torch does not load inside DM).

This module is imported by GMS's Python and by the out-of-process worker, so it
imports neither ``DigitalMicrograph`` nor ``atomvae`` at import time, and keeps to
syntax that older GMS Pythons parse.
"""

__version__ = "0.1.0"

TASKS = ("find-atoms", "order-parameters")


class Refused(Exception):
    """The input cannot be analysed (no image, no calibration ...); the message says why."""


class Cancelled(Exception):
    """The user cancelled; nothing was made."""


def main(task, settings=None, mode=None):
    """Runs ``task`` (one of :data:`TASKS`) on DM's front image and shows the results.

    ``settings`` are atomvae settings groups laid over the "recipe" preset (see
    README); ``mode`` is "auto" (default), "in-process" or "out-of-process".
    Returns the created images by role (empty when refused, cancelled or failed:
    those end in a dialog, never in an exception)."""
    from . import dm, tasks

    try:
        return tasks.run(task, settings=settings, mode=mode)
    except Refused as refusal:
        dm.message("atomvae: " + str(refusal))
    except Cancelled:
        dm.log("atomvae: cancelled; nothing was made.")
        dm.message("atomvae: cancelled; nothing was made.")
    except Exception as error:  # noqa: BLE001 - every failure ends in a dialog inside DM
        import traceback

        dm.log(traceback.format_exc())
        dm.message(f"atomvae failed: {type(error).__name__}: {error}")
    return {}
