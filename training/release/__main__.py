"""python -m training.release runs the stage's main tool, python -m training.release.export."""
from training.release.export import main

main()
