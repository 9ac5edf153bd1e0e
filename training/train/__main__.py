"""python -m training.train runs the stage's main tool, python -m training.train.finetune."""
from training.train.finetune import main

main()
