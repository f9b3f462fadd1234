"""Export to TensorFlow/Keras and verification against it: the only package that imports TensorFlow.

TensorFlow is imported inside functions only, so that ``convcalc check`` never pays for it.
"""
