/*
 * fw_tiny_model.c - a hand-written model behind the edgesdk_model contract, for the firmware and transport
 * tests: 1500 int8 inputs -> 750 int8 outputs in two layers,
 *   layer 0 "add5":     t[i] = sat8(in[i] + 5)
 *   layer 1 "pairsum":  out[j] = sat8(t[2j] + t[2j+1])
 * each bracketed by the profiling hooks. The input is large enough to need chunked uploads.
 */
#include <stdint.h>

#include "edgesdk_model.h"

#define FW_TINY_IN 1500u
#define FW_TINY_OUT 750u

static int8_t fw_tiny_arena[FW_TINY_IN];
static int fw_tiny_ready;

static int8_t sat8(int32_t v) { return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v)); }

static int fw_tiny_init(void)
{
    fw_tiny_ready = 1;
    return EDGESDK_OK;
}

static int fw_tiny_invoke(const int8_t *in, int8_t *out)
{
    uint32_t i;
    if (!fw_tiny_ready) {
        return EDGESDK_ERROR_NOT_INITIALISED;
    }
    EDGESDK_LAYER_BEGIN(0);
    for (i = 0; i < FW_TINY_IN; i++) {
        fw_tiny_arena[i] = sat8((int32_t)in[i] + 5);
    }
    EDGESDK_LAYER_END(0);
    EDGESDK_LAYER_BEGIN(1);
    for (i = 0; i < FW_TINY_OUT; i++) {
        out[i] = sat8((int32_t)fw_tiny_arena[2u * i] + (int32_t)fw_tiny_arena[2u * i + 1u]);
    }
    EDGESDK_LAYER_END(1);
    return EDGESDK_OK;
}

static const char *const fw_tiny_layer_names[2] = {"add5", "pairsum"};

const edgesdk_model_t edgesdk_model = {
    "fw_tiny",
    "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    FW_TINY_IN,
    FW_TINY_OUT,
    0.5f,
    -3,
    0.25f,
    1,
    (uint32_t)sizeof fw_tiny_arena,
    2u,
    fw_tiny_layer_names,
    fw_tiny_init,
    fw_tiny_invoke,
    0u, /* no zero-copy input: the harness only calls invoke */
    0,
    0,
    0,
};
