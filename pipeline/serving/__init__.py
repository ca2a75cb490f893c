"""The latent space served: the ``model`` stage (``model``), the MLflow pyfunc model that answers similar songs and
recommendations (``pyfunc``), and the champion gate of the registered model (``promotion``)."""
