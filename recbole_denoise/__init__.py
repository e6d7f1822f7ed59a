"""recbole-denoise: denoising and fine-grained-feedback recommenders for RecBole."""

__version__ = "0.1.0"
