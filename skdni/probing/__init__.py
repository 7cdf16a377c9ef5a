"""skdni.probing."""
