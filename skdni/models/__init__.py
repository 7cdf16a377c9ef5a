"""skdni.models."""
