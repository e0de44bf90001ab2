"""The worker's pure stages (streams/stages/base.py says what a stage is)."""
