"""Post ideas: short texts for sharing photos (ideas.py)."""
