"""skdni.features."""
