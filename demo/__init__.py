"""The demo registry generator: a deterministic, realistic registry for trying and testing Socle."""
