"""Build the optional accelerators; LogCaster runs (slower) without them.

``_speedups`` (C) needs only a compiler. ``_re2scan`` (C++) also needs RE2's
headers and library (Debian: ``libre2-dev``); without them regexes run through
the google-re2 bindings, with the same results.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler: fall back to the pure-Python scanner
            print(f"warning: accelerators not built ({exc}); using pure Python")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: {ext.name} not built ({exc}); using its fallback")


setup(
    ext_modules=[
        Extension(
            "logcaster._speedups",
            [
                "src/logcaster/_speedups.c",
                "src/logcaster/_filters.c",
                "src/logcaster/_anyof.c",
                "src/logcaster/_levelscan.c",
                "src/logcaster/_frames.c",
                "src/logcaster/_ndjson.c",
                "src/logcaster/_native.c",
                "src/logcaster/_fields.c",
                "src/logcaster/_utf8.c",
                "src/logcaster/_icase.c",
                "src/logcaster/_prefix.c",
                "src/logcaster/_spelled.c",
                "src/logcaster/_json.c",
                "src/logcaster/_bulk.c",
                "src/logcaster/_lokiproto.c",
                "src/logcaster/_otlpproto.c",
                "src/logcaster/_otlpjson.c",
                "src/logcaster/_floatrepr.c",
                "src/logcaster/_outblock.c",
                "src/logcaster/_stamped.c",
            ],
            depends=["src/logcaster/_speedups.h"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "logcaster._re2scan",
            ["src/logcaster/_re2scan.cc"],
            extra_compile_args=["-O3", "-std=c++17"],
            libraries=["re2"],
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
