"""One run end to end: the flow file, the project lock, the run log, the runner."""
