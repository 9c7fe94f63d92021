"""evalspec's standard library of rubrics: the `.eval` files in this folder, imported as
`import "std:NAME" as x` (see docs/rubrics.md)."""
