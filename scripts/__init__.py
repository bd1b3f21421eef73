"""Developer entry points (`make run`, recording histories). The app never imports these."""
