"""pytorch-ssd's package layout (written for this example)."""
