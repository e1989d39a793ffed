"""The FPGA backend: IR -> hls4ml model (with edgesdk's units in ``hls/``) -> C-simulation and synthesis.

- ``convert``: the IR as an hls4ml layer list and configuration, built into a ``ModelGraph``;
- ``extensions``: edgesdk's units registered with hls4ml (layers, templates, sources, a pass);
- ``winograd_hls``, ``xnor_hls``: the Winograd F(2x2,3x3) and XNOR-popcount layers;
- ``synth``: ``edgesdk synth`` (C-simulation against the reference, vendor synthesis or an estimate, reports);
- ``rtl``: the XNOR dense unit in Verilog for the open-source flow (Icarus Verilog, yosys, nextpnr-ice40).

hls4ml is an optional dependency (``pip install "edgesdk[hls]"``), imported only when these are used.
"""
