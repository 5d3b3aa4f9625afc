"""Build the optional C accelerator; LogCaster runs (slower) without it."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler: fall back to the pure-Python scanner
            print(f"warning: C accelerator not built ({exc}); using pure Python")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: C accelerator not built ({exc}); using pure Python")


setup(
    ext_modules=[
        Extension(
            "logcaster._speedups",
            ["src/logcaster/_speedups.c"],
            extra_compile_args=["-O3"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
