// atomvae: rVAE order parameters (GMS 3.5 and later).
// Runs scripts/atomvae_order_parameters.py, whose folder install_atomvae_menus.s recorded in the
// persistent tag "atomvae:Scripts folder". The Python script keeps DM responsive
// itself (its work runs in a Python thread) and imports torch on the main thread.
// GMS 3.5 and later: ExecutePythonScriptFile's flag 0 runs the script synchronously
// on this (the main) thread (1 would start it on a background thread). GMS 3.4 reads the
// flag inverted: use ../gms-3.4 there.
string folder
if (!GetPersistentStringNote("atomvae:Scripts folder", folder))
{
	OkDialog("atomvae: run launchers/install_atomvae_menus.s once first (see README.md).")
	exit(0)
}
ExecutePythonScriptFile(PathConcatenate(folder, "atomvae_order_parameters.py"), 0)
