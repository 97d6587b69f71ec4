"""Cannot start: importing it raises, so no case can run."""
raise RuntimeError("hostile_nostart refuses to become torch")
