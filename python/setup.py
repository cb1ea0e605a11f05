"""Installs the vfrobust package and bundles a built libvfrobust.so into it.

The library is taken from $VFROBUST_LIB, else from ../build/libvfrobust.so (the CMake build
of this checkout). Without either, the package installs without a library and looks for
one at run time (VFROBUST_LIB, or the build tree next to it: see vfrobust/_lib.py)."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def built_library():
    env = os.environ.get("VFROBUST_LIB")
    if env:
        if not os.path.isfile(env):
            raise SystemExit(f"vfrobust: {env}: VFROBUST_LIB names no file")
        return env
    path = os.path.join(os.path.dirname(HERE), "build", "libvfrobust.so")
    return path if os.path.isfile(path) else None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = built_library()
        if lib:
            dst = os.path.join(self.build_lib, "vfrobust", "lib")
            os.makedirs(dst, exist_ok=True)
            shutil.copy2(lib, os.path.join(dst, "libvfrobust.so"))
            print(f"vfrobust: bundled {lib}")
        else:
            print("vfrobust: no built libvfrobust.so found; set VFROBUST_LIB at run time")


class MaybeBinary(Distribution):
    def has_ext_modules(self):  # a bundled .so makes the wheel platform-specific
        return built_library() is not None


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=MaybeBinary)
