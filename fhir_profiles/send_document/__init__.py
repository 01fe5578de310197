"""GP Connect Send Document: the ITK3 message, its PDF letter and its responses."""
