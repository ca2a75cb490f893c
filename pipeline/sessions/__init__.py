"""Sessions and the real-life split (paper, Sections 3.1 and 4.1): the ``sessions`` stage (``sessions``), the split
planner (``split_plan``), the ``splits`` and ``validation_split`` stages (``splits``). ``spark``: sessions and the split
on Spark."""
