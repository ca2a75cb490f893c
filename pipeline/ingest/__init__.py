"""A listening log in: the seeded synthetic log (``synthetic``), or a real log read in the format it comes in
(``raw_events``: the stage, over ``importers``; ``log_formats`` row by row, ``columnar`` + ``line_split`` a block at a time),
every field held to one rule (``field_rules``, ``text_form``, ``columns``, ``inputs``, ``pseudonyms``). ``spark``: the
same import on Spark."""
