"""Acme's shared evalspec rubrics. The rubrics live in the `.eval` files next to this module;
evalspec reads them with importlib.resources: `import "acme_rubrics:support" as acme`."""
