"""The paper's evaluation (Section 4): the queries (``queries``), every retrieval method behind one interface
(``methods``, ``sknn``, the ``baselines`` stage), exact nearest songs (``nearest``; ``spark_search`` on Spark), both
experiments scored (``experiments``: ``measures``, ``beyond_accuracy``, ``strata``), the ``metrics`` stage
(``metrics``) and the tunings on validation (``tuning``)."""
