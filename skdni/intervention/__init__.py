"""skdni.intervention."""
