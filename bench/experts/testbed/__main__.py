import argparse
import sys

from bench.experts.testbed.cli import HELP, add_arguments, main

parser = argparse.ArgumentParser(prog="python -m bench.experts.testbed", description=HELP)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
