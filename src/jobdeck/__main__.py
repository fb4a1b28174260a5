"""python -m jobdeck"""

from jobdeck.cli import main

main()
