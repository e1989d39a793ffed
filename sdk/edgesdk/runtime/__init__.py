"""Runtime and devices: jobs, firmware images and the device protocols beside boards/ and transport/."""
