"""The FPGA backend: IR -> hls4ml model (+ edgesdk's units in ``hls/``) -> C-simulation and synthesis."""
