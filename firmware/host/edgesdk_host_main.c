/*
 * edgesdk_host_main.c - host test driver for any edgesdk-generated model.
 *
 * Usage: edgesdk_host <inputs.bin> <outputs.bin>
 * Reads consecutive raw int8 input vectors (edgesdk_model.input_size bytes each) until the end of the
 * input file, runs one inference per vector in this one process, and writes the raw int8 outputs
 * (edgesdk_model.output_size bytes each) in the same order. Exit code 0 on success; 2 on bad usage or I/O;
 * 3 if init/invoke returns a non-zero status. Host only: it may use stdio and malloc, the model never does.
 * Built with -DEDGESDK_HOST_IN_PLACE it reads each input straight into the arena (edgesdk_model.input(i)) and
 * calls invoke_in_place: the zero-copy API, on the same files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "edgesdk_model.h"

int main(int argc, char **argv)
{
    FILE *fin;
    FILE *fout;
    int8_t *in;
    int8_t *out;
    int rc = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s inputs.bin outputs.bin\n", argv[0]);
        return 2;
    }
    fin = fopen(argv[1], "rb");
    fout = fopen(argv[2], "wb");
    in = (int8_t *)malloc(edgesdk_model.input_size);
    out = (int8_t *)malloc(edgesdk_model.output_size);
    if (fin == NULL || fout == NULL || in == NULL || out == NULL) {
        fprintf(stderr, "cannot open files or allocate buffers\n");
        return 2;
    }
    if (edgesdk_model.init() != EDGESDK_OK) {
        fprintf(stderr, "%s: init failed\n", edgesdk_model.name);
        return 3;
    }
    for (;;) {
        int status;
#ifdef EDGESDK_HOST_IN_PLACE
        uint32_t i, got = 0;
        for (i = 0; i < edgesdk_model.num_inputs; ++i) {
            const uint32_t n = edgesdk_model.input_size_of((int)i);
            got += (uint32_t)fread(edgesdk_model.input((int)i), 1, n, fin);
        }
        if (got != edgesdk_model.input_size || edgesdk_model.input((int)edgesdk_model.num_inputs) != NULL) {
            break;
        }
        status = edgesdk_model.invoke_in_place(out);
#else
        if (fread(in, 1, edgesdk_model.input_size, fin) != edgesdk_model.input_size) {
            break;
        }
        status = edgesdk_model.invoke(in, out);
#endif
        if (status != EDGESDK_OK) {
            fprintf(stderr, "%s: invoke returned %d\n", edgesdk_model.name, status);
            rc = 3;
            break;
        }
        if (fwrite(out, 1, edgesdk_model.output_size, fout) != edgesdk_model.output_size) {
            rc = 2;
            break;
        }
    }
    free(in);
    free(out);
    fclose(fin);
    if (fclose(fout) != 0) {
        rc = 2;
    }
    return rc;
}
