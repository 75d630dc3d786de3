"""The run core: tasks and their specs, the engine, the skip rules, fingerprints, outputs."""
