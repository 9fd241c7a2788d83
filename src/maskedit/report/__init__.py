"""Pictures and pages made from results on disk; never imports torch."""
