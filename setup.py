"""Packaging: ``properties/`` and ``dataset/`` live at the repo root (RecBole's layout)
and ship inside the package as ``recbole_denoise/properties`` and
``recbole_denoise/dataset``, so an installed package finds its yaml and bundled data."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["recbole_denoise", "recbole_denoise.*"])
    + ["recbole_denoise.properties", "recbole_denoise.dataset"],
    package_dir={
        "recbole_denoise.properties": "properties",
        "recbole_denoise.dataset": "dataset",
    },
    package_data={
        "recbole_denoise.properties": ["*.yaml", "model/*.yaml", "dataset/*.yaml"],
        "recbole_denoise.dataset": ["**/*"],
    },
)
