"""Part 4: hooks into other tools (diffusers pipelines)."""
