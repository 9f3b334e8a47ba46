"""`python run_squad.py` in a checkout runs the `keras-adapters-squad`
command (`keras_adapters.run_squad`)."""

from keras_adapters.run_squad import run

if __name__ == "__main__":
    run()
