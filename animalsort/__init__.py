"""animalsort: sort photos by animal with pretrained PyTorch models."""

__version__ = "0.1.0"
