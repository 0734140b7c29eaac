"""Maps: boundary files, their simplification and the layers drawn from them."""
