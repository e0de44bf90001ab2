"""The one native part: schemas._pruned_json (schemas/_pruned_json.c), the transcript reader's
validated, pruned JSON decoding. It is optional: without a C compiler the install goes on and
spendstream decodes every line with orjson (schemas/sources/pruned.py), exactly but slower."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "schemas._pruned_json",
            ["schemas/_pruned_json.c"],
            optional=True,
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
        )
    ]
)
