"""The image contract the validate stage enforces: per-image facts and the GX suite."""
