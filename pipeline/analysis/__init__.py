"""What the latent space shows: each user's behaviour (``behaviour``), the paper's pictures (``plots``: the ``plots``
stage; ``charts``: the matplotlib figures), the explorer and ego networks (``explorer``, ``egonet``), what the analyses
look at (``views``), and the tables of a run (``report``)."""
