"""DeepWalk's skip-gram with hierarchical softmax (paper, Section 3.2): the ``embedding_*`` stages (``embedding``), the
skip-gram's settings and gensim's trainer (``skipgram``), the numba trainer (``skipgram_numba`` + ``huffman``), their one
face (``trainers``), resumable training (``checkpoints``), what a training records (``record``), and Spark ML's Word2Vec
(``spark_word2vec``)."""
