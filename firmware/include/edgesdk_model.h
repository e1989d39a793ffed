/*
 * edgesdk_model.h - the contract between a generated model and the device-side harness.
 *
 * Every exported project defines exactly one `edgesdk_model` (in the generated <model>_glue.c),
 * so the harness (firmware/harness/) runs any model without knowing its name.
 * Per-layer profiling: generated code brackets each layer with EDGESDK_LAYER_BEGIN(i) / EDGESDK_LAYER_END(i),
 * which cost nothing unless EDGESDK_PROFILE is defined, in which case the harness provides the two hooks.
 */
#ifndef EDGESDK_MODEL_H
#define EDGESDK_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGESDK_OK 0
#define EDGESDK_ERROR_NOT_INITIALISED 1

typedef struct edgesdk_model {
    const char *name;            /* model name, a C identifier */
    const char *sha256;          /* hex digest of the source model file */
    uint32_t input_size;         /* int8 elements */
    uint32_t output_size;        /* int8 elements */
    float input_scale;
    int32_t input_zero_point;
    float output_scale;
    int32_t output_zero_point;
    uint32_t arena_bytes;
    uint32_t num_layers;
    const char *const *layer_names;
    int (*init)(void);
    int (*invoke)(const int8_t *input, int8_t *output);
    /* zero-copy input: the application writes input i (input_size_of(i) bytes) at input(i) in the arena, then
     * calls invoke_in_place(output) */
    uint32_t num_inputs;
    int8_t *(*input)(int index);
    uint32_t (*input_size_of)(int index);
    int (*invoke_in_place)(int8_t *output);
} edgesdk_model_t;

extern const edgesdk_model_t edgesdk_model;

#ifdef EDGESDK_PROFILE
void edgesdk_layer_begin(uint32_t layer);
void edgesdk_layer_end(uint32_t layer);
#define EDGESDK_LAYER_BEGIN(i) edgesdk_layer_begin(i)
#define EDGESDK_LAYER_END(i) edgesdk_layer_end(i)
#else
#define EDGESDK_LAYER_BEGIN(i) ((void)0)
#define EDGESDK_LAYER_END(i) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* EDGESDK_MODEL_H */
