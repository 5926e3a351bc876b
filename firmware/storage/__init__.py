"""Flash storage seam and power-cut-safe record formats shared by every persistent
structure."""
