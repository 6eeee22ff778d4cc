"""Where images come from: the embedded synthetic sample, and safe extraction of archives."""
