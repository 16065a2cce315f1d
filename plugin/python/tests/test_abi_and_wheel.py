"""The package's view of the C ABI is the generated header's, and the installed wheel
is what a user's pip would get: the right tag, a library that finds torch through a
relative rpath, nothing of the build machine inside."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import cffi
import pytest
from conftest import REPO

import atomvae
from atomvae import _header, _library

HEADER = REPO / "include" / "atomvae.h"
IN_WHEEL = os.environ.get("ATOMVAE_WHEEL")


def header_ffi():
    ffi = cffi.FFI()
    ffi.cdef(_header.cdef_from_header(HEADER.read_text(encoding="utf-8")))
    return ffi, ffi.dlopen(str(native_library()))


def canonical(cname: str) -> str:
    """A C type's name with typedefs of structs spelled as the structs."""
    return re.sub(r"\b(Atomvae\w+)_t\b", r"struct \1", cname)


def native_library() -> Path:
    return Path(os.environ.get("ATOMVAE_LIBRARY") or next((Path(atomvae.__file__).parent / "_native").glob("*.so")))


def test_python_sees_exactly_the_functions_and_signatures_of_the_header():
    text = HEADER.read_text(encoding="utf-8")
    declared = _header.function_names(_header.cdef_from_header(text))
    assert len(declared) >= 37
    ffi, lib = header_ffi()
    for name in declared:
        ours = canonical(_library.ffi.typeof(getattr(_library.lib, name)).cname)
        theirs = canonical(ffi.typeof(getattr(lib, name)).cname)
        assert ours == theirs, f"{name}: the package has {ours}, the header {theirs}"
    exported = subprocess.run(["nm", "-D", "--defined-only", str(native_library())], capture_output=True, text=True)
    symbols = set(re.findall(r"\b(atomvae_\w+)\b", exported.stdout))
    assert set(declared) <= symbols, f"declared but not exported: {set(declared) - symbols}"
    c_abi = {s for s in symbols if not s.startswith("atomvae_cxx") and "cxxbridge" not in s}
    assert c_abi <= set(declared), f"exported but not in the header: {c_abi - set(declared)}"
    for struct in ("AtomvaeAtom_t", "AtomvaeAtomRow_t", "AtomvaeRvaeSettings_t"):
        assert _library.ffi.sizeof(struct) == ffi.sizeof(struct)


def test_the_header_states_the_rules_of_the_abi_and_documents_every_field():
    text = HEADER.read_text(encoding="utf-8")
    for rule in ("Threads:", "Buffers:", "No overlap:", "Handles:", "Progress callbacks"):
        assert rule in text
    assert "<No documentation available>" not in text


def test_a_size_query_with_nothing_to_write_is_ok():
    empty = atomvae.find_atoms(
        __import__("numpy").stack([__import__("numpy").ones((32, 32)), *[__import__("numpy").zeros((32, 32))] * 2]),
        pixel_size=0.2,
    )
    assert len(empty) == 0 and empty.dtype == atomvae.ATOM_DTYPE


def test_overlapping_output_buffers_are_refused(rvae, windows):
    import numpy as np

    from atomvae._arrays import reading, writing

    x = np.ascontiguousarray(windows[:4])
    cols = len(rvae.latent_columns)
    shared = np.empty((4, cols), np.float32)
    status = _library.lib.atomvae_rvae_encode(
        rvae.pointer, reading(x), 4, x.shape[1], writing(shared), writing(shared), shared.size
    )
    with pytest.raises(atomvae.InvalidArgument, match="overlap"):
        _library.check(status)


@pytest.mark.skipif(not IN_WHEEL, reason="the wheel checks run on the installed wheel (scripts/test.sh)")
class TestInstalledWheel:
    def test_the_wheel_is_one_py3_none_wheel_for_every_python(self):
        name = Path(IN_WHEEL).name
        assert re.fullmatch(r"atomvae-[\d.]+-py3-none-manylinux_2_\d+_x86_64\.whl", name), name
        with zipfile.ZipFile(IN_WHEEL) as wheel:
            names = wheel.namelist()
            tags = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/WHEEL"))
            metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        assert "Tag: py3-none-manylinux" in tags
        assert "Requires-Dist: torch==2.13.0" in metadata
        assert "Requires-Python: >=3.10" in metadata
        assert not [n for n in names if re.search(r"lib(torch|c10)[^/]*\.so", n)], "libtorch must not be copied in"

    def test_the_package_is_imported_from_site_packages_not_the_checkout(self):
        site = Path(sysconfig.get_paths()["purelib"])
        assert Path(atomvae.__file__).resolve().is_relative_to(site.resolve())
        assert not Path(atomvae.__file__).resolve().is_relative_to(REPO)
        assert "ATOMVAE_LIBRARY" not in os.environ

    def test_the_library_finds_torch_by_a_relative_rpath_and_keeps_no_build_path(self):
        library = native_library()
        dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
        runpath = re.search(r"R(?:UN)?PATH.*\[(.*)\]", dynamic).group(1)
        assert runpath == "$ORIGIN/../../torch/lib"
        assert str(REPO) not in dynamic and "/.cache/" not in dynamic
        needed = re.findall(r"NEEDED.*\[(.*)\]", dynamic)
        assert "libtorch_cpu.so" in needed and "libtorch_cuda.so" in needed, needed
        assert not [n for n in needed if "hdf5" in n], "HDF5 is linked statically"
        # Loaded without importing torch first, the rpath alone must find libtorch.
        probe = f"import ctypes; ctypes.CDLL({str(library)!r}); import sys; print('torch' in sys.modules)"
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.strip() == "False"

    def test_pip_sees_every_dependency_satisfied(self):
        check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
        assert "atomvae" not in check.stdout, check.stdout
