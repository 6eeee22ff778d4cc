"""The export formats: one writer and one loader per format."""
