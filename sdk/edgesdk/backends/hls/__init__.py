"""The FPGA backend: IR -> hls4ml model (with edgesdk's units in ``hls/``) -> C-simulation and synthesis. The
command that drives it (the ``"hls"`` pass pipeline first, then these, then the reports) is :mod:`edgesdk.commands.synth`.

- ``convert``: the IR as an hls4ml layer list and configuration (a table of per-op handlers), built into a
  ``ModelGraph``; it reads the pipeline's decisions from the nodes and makes none of its own;
- ``extensions``: edgesdk's units registered with hls4ml (layers, config templates from ``templates/hls/``,
  sources, a pass);
- ``winograd_hls``, ``xnor_hls``: the Winograd F(2x2,3x3) and XNOR-popcount layers;
- ``csim``: C-simulation against the reference, layer by layer; ``vendor``: vendor HLS synthesis and its report;
  ``estimate``: the analytical estimate and the fit against a board;
- ``rtl``: the XNOR dense unit in Verilog for the open-source flow (Icarus Verilog, yosys, nextpnr-ice40).

hls4ml is an optional dependency (``pip install "edgesdk[hls]"``), imported only when these are used.
"""
