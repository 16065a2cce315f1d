"""DigitalMicrograph: atomvae > Find atoms, on the front image or stack.

Run by the launcher atomvae_find_atoms.s (or opened in a script window and run
on the main thread). Finds the atomvae_dm package in GMS's Python, else in the
folder named by the persistent tag "atomvae:Package folder" (see README.md).
"""

import sys

import DigitalMicrograph as DM


def package():
    try:
        import atomvae_dm
    except ImportError:
        found, folder = DM.GetPersistentTagGroup().GetTagAsString("atomvae:Package folder")
        if not found:
            DM.OkDialog(
                "atomvae: pip-install plugin/digitalmicrograph into GMS's Python, or set the "
                "persistent tag 'atomvae:Package folder' to that folder (README.md)."
            )
            return None
        sys.path.insert(0, str(folder))
        import atomvae_dm
    return atomvae_dm


atomvae_dm = package()
if atomvae_dm is not None:
    atomvae_dm.main("find-atoms")
