"""Starting, resuming, running and controlling runs: the run side of taskexec_nb."""
