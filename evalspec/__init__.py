"""evalspec: a declarative language for evaluating language models."""

__version__ = "0.1.0"
