"""reportgen: LIME trust reports for Keras classifiers."""

__version__ = "0.1.0"
