"""python -m training.encoders runs the stage's main tool, python -m training.encoders.import_e5."""
from training.encoders.import_e5 import main

main()
