"""The networks DeepWalk embeds and their random walks (paper, Section 3.2): the ``graph_<network>`` stages
(``graph``), the ``walks_<network>`` stages (``walks``), and the corpus read back as int32 walks (``walk_reader``).
``spark``: both on Spark."""
