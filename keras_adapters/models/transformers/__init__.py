"""Hugging Face folders keras-hub's own converters do not fully read."""
