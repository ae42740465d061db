"""Official-format accuracy scripts, one per benchmark family."""
