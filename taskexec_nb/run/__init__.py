"""Running a plan: start, schedule, observe."""
