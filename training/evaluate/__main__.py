"""python -m training.evaluate runs the stage's main tool, python -m training.evaluate.score."""
from training.evaluate.score import main

main()
