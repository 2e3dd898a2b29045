"""One report section builder per pipeline, each `build(out_dir, quick) -> Section`, used by `nivalis demo`."""
