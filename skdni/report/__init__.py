"""skdni.report."""
