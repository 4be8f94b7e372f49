"""The notebook face: IPython magics, the live run dashboard and papermill batch runs.

Nothing here is imported by ``import taskexec_nb``; IPython, ipywidgets and papermill
load only when a notebook asks for them (``%load_ext taskexec_nb``, displaying a run,
``taskexec notebook``).
"""
