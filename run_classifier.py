"""`python run_classifier.py` in a checkout runs the `keras-adapters-classifier`
command (`keras_adapters.run_classifier`)."""

from keras_adapters.run_classifier import run

if __name__ == "__main__":
    run()
