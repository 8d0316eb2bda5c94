"""Package discovery for setuptools; everything else is in pyproject.toml.

Every folder under autofix/ is a package (namespace packages included, so data-only
folders such as autofix/inpaint/sd_configs/sd15/unet and autofix/detect/tflite are
declared packages whose files pyproject's package-data ships). The presets (configs/)
and the model manifest (models/) live at the top of the checkout and install as
autofix.configs and autofix.models.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=find_namespace_packages(include=["autofix", "autofix.*"], exclude=["*.__pycache__"])
    + ["autofix.configs", "autofix.models"],
    package_dir={"autofix.configs": "configs", "autofix.models": "models"},
)
