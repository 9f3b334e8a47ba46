"""`python export_multitask.py` in a checkout runs the
`keras-adapters-export-multitask` command (`keras_adapters.export_multitask`).
"""

from keras_adapters.export_multitask import run

if __name__ == "__main__":
    run()
