# edgesdk.mk - builds the edgesdk device harness around a generated model: firmware.elf (+ firmware.bin).
#
# Include it from a project Makefile (or run `make -f <firmware>/edgesdk.mk VAR=...`) and build the target
# `edgesdk_firmware`. Everything is compiled and linked in one compiler call (sources are few; no object-name
# clashes between model and harness files).
#
# Required:
#   BOARD_FAMILY   stm32f4 | stm32l4 | stm32h7 | stm32u5 | mps2 | nrf5 | rp2040 | riscv-virt | esp32c3 | host
#   MODEL_SRCS     the model's C sources (<model>.c, <model>_glue.c defining edgesdk_model, kernels)
#   LINKER_SCRIPT  rendered templates/firmware/linker.ld.j2 (every family but host)
# Optional:
#   CC             compiler (default arm-none-eabi-gcc, gcc for host)
#   CFLAGS         board flags (-mcpu, -mfpu, -mfloat-abi, -O2 ...); -std=c99 -Wall -Wextra -Werror are added
#   LDFLAGS        extra link flags; for MCUs -nostartfiles, -Wl,--gc-sections and, unless CFLAGS or LDFLAGS
#                  already name --specs, --specs=nano.specs --specs=nosys.specs are added
#   MODEL_INCLUDES extra include directories for the model (-I is added)
#   BUILD_DIR      output folder (default: build)
#   BOARD_NAME     plain word, e.g. netduinoplus2          -> -DEDGESDK_BOARD_NAME="..."
#   CLOCK_HZ       board clock_hz (required for MCUs)      -> -DEDGESDK_CLOCK_HZ=...u
#   UART_BASE      board [uart] base, e.g. 0x40011000       -> -DEDGESDK_UART_BASE=...u
#   UART_BAUD      board [uart] baud (default 115200)
#   UART_IRQ       board [uart] irq: the interrupt line receive sleeps on (optional) -> -DEDGESDK_UART_IRQ=...
#   UART_TX_PIN / UART_RX_PIN  board [uart] tx_pin / rx_pin (optional) -> -DEDGESDK_UART_TX_PIN=... / _RX_PIN
#   EMULATED       1 for QEMU boards: no RCC/PLL waits, SysTick (instructions) timer, semihosting exit
#   MLPERF_MODEL   ic01 | ad01 | kws01 | vww01 | none (default none) -> m-model-[...] of the MLPerf Tiny
#                  protocol; 'none' refuses MLPerf inputs (export --mlperf chooses it)
#   MLPERF_INPUT_OFFSET  added to each byte the runner sends (default 0; -128 for ic01/vww01's uint8 pixels)
#   PROFILE        1 (default) per-layer counts through EDGESDK_LAYER_BEGIN/END; 0 to leave them out
#   ARENA_IN_CCM   1: the model's arena goes to the linker script's .ccm section (core-coupled RAM)
#   MAX_INPUT_BYTES / MAX_OUTPUT_BYTES / MAX_LAYERS  harness buffer sizes (defaults 4096 / 1024 / 256)
#   OBJCOPY        (default arm-none-eabi-objcopy)
# Outputs: $(BUILD_DIR)/firmware.elf (a host executable for BOARD_FAMILY=host), $(BUILD_DIR)/firmware.bin (MCUs),
#          $(BUILD_DIR)/firmware.map (MCUs).

EDGESDK_FW := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BUILD_DIR ?= build
UART_BAUD ?= 115200
MLPERF_MODEL ?= none
MLPERF_INPUT_OFFSET ?= 0
PROFILE ?= 1
EMULATED ?= 0
OBJCOPY ?= arm-none-eabi-objcopy

ifeq ($(strip $(BOARD_FAMILY)),)
$(error edgesdk.mk: BOARD_FAMILY is not set (stm32f4, stm32l4, stm32h7, mps2 or host))
endif

EDGESDK_HARNESS_SRCS := $(addprefix $(EDGESDK_FW)/harness/,main.c edgesdk_harness.c edgesdk_mlperf.c edgesdk_proto.c)
EDGESDK_CORTEXM := $(EDGESDK_FW)/targets/cortexm/startup.c $(EDGESDK_FW)/targets/cortexm/timer.c \
  $(EDGESDK_FW)/targets/cortexm/memfns.c

ifeq ($(BOARD_FAMILY),host)
  ifeq ($(origin CC),default)
    CC := gcc
  endif
  EDGESDK_TARGET_SRCS := $(EDGESDK_FW)/targets/host/target.c
  EDGESDK_MCU := 0
else ifeq ($(BOARD_FAMILY),stm32f4)
  EDGESDK_TARGET_SRCS := $(EDGESDK_CORTEXM) $(EDGESDK_FW)/targets/stm32f4/board.c $(EDGESDK_FW)/targets/stm32f4/uart.c
  EDGESDK_MCU := 1
else ifneq ($(filter stm32l4 stm32h7 stm32u5,$(BOARD_FAMILY)),)
  # the families whose UART has the L4/H7 register layout share one driver
  EDGESDK_TARGET_SRCS := $(EDGESDK_CORTEXM) $(EDGESDK_FW)/targets/$(BOARD_FAMILY)/board.c $(EDGESDK_FW)/targets/cortexm/stm32_usart_v2.c
  EDGESDK_MCU := 1
else ifneq ($(filter mps2 nrf5 rp2040,$(BOARD_FAMILY)),)
  EDGESDK_TARGET_SRCS := $(EDGESDK_CORTEXM) $(EDGESDK_FW)/targets/$(BOARD_FAMILY)/board.c
  EDGESDK_MCU := 1
else ifneq ($(filter riscv-virt esp32c3,$(BOARD_FAMILY)),)
  # RISC-V: the family brings its own startup, timer (instret/cycle CSRs) and UART; no Cortex-M code
  EDGESDK_TARGET_SRCS := $(wildcard $(EDGESDK_FW)/targets/$(BOARD_FAMILY)/*.c)
  EDGESDK_MCU := 1
else
$(error edgesdk.mk: unknown BOARD_FAMILY '$(BOARD_FAMILY)' (stm32f4, stm32l4, stm32h7, stm32u5, mps2, nrf5, rp2040, riscv-virt, esp32c3 or host))
endif

ifeq ($(EDGESDK_MCU),1)
  ifeq ($(origin CC),default)
    CC := arm-none-eabi-gcc
  endif
  ifeq ($(strip $(CLOCK_HZ)),)
    $(error edgesdk.mk: CLOCK_HZ (the board's clock_hz) is required for BOARD_FAMILY=$(BOARD_FAMILY))
  endif
  ifeq ($(strip $(LINKER_SCRIPT)),)
    $(error edgesdk.mk: LINKER_SCRIPT (rendered from templates/firmware/linker.ld.j2) is required for BOARD_FAMILY=$(BOARD_FAMILY))
  endif
  EDGESDK_MCU_CFLAGS := -ffunction-sections -fdata-sections -ffreestanding
  EDGESDK_MCU_LDFLAGS := -nostartfiles -Wl,--gc-sections -T$(LINKER_SCRIPT) -Wl,-Map=$(BUILD_DIR)/firmware.map \
    $(if $(findstring --specs,$(CFLAGS) $(LDFLAGS)),,--specs=nano.specs --specs=nosys.specs)
endif

EDGESDK_DEFS := -DEDGESDK_MLPERF_MODEL='"$(MLPERF_MODEL)"' -DEDGESDK_MLPERF_INPUT_OFFSET=$(MLPERF_INPUT_OFFSET) \
  $(if $(BOARD_NAME),-DEDGESDK_BOARD_NAME='"$(BOARD_NAME)"') \
  $(if $(CLOCK_HZ),-DEDGESDK_CLOCK_HZ=$(CLOCK_HZ)u) \
  $(if $(UART_BASE),-DEDGESDK_UART_BASE=$(UART_BASE)u) \
  $(if $(UART_IRQ),-DEDGESDK_UART_IRQ=$(UART_IRQ)) \
  $(if $(UART_TX_PIN),-DEDGESDK_UART_TX_PIN=$(UART_TX_PIN)) \
  $(if $(UART_RX_PIN),-DEDGESDK_UART_RX_PIN=$(UART_RX_PIN)) \
  -DEDGESDK_UART_BAUD=$(UART_BAUD)u \
  $(if $(filter 1,$(PROFILE)),-DEDGESDK_PROFILE) \
  $(if $(filter 1,$(ARENA_IN_CCM)),-DEDGESDK_ARENA_IN_CCM) \
  $(if $(filter 1,$(EMULATED)),-DEDGESDK_EMULATED -DEDGESDK_SEMIHOSTING -DEDGESDK_ICOUNT_SHIFT=$(or $(ICOUNT_SHIFT),0)) \
  $(if $(MAX_INPUT_BYTES),-DEDGESDK_MAX_INPUT_BYTES=$(MAX_INPUT_BYTES)u) \
  $(if $(MAX_OUTPUT_BYTES),-DEDGESDK_MAX_OUTPUT_BYTES=$(MAX_OUTPUT_BYTES)u) \
  $(if $(MAX_LAYERS),-DEDGESDK_MAX_LAYERS=$(MAX_LAYERS)u)
EDGESDK_INCS := -I$(EDGESDK_FW)/include -I$(EDGESDK_FW)/harness -I$(EDGESDK_FW)/targets/cortexm \
  $(addprefix -I,$(MODEL_INCLUDES))
EDGESDK_ALL_SRCS := $(EDGESDK_HARNESS_SRCS) $(EDGESDK_TARGET_SRCS) $(MODEL_SRCS)
EDGESDK_HEADERS := $(wildcard $(EDGESDK_FW)/include/*.h $(EDGESDK_FW)/harness/*.h $(EDGESDK_FW)/targets/cortexm/*.h \
  $(EDGESDK_FW)/targets/$(BOARD_FAMILY)/*.h)

.PHONY: edgesdk_firmware edgesdk_clean
edgesdk_firmware: $(BUILD_DIR)/firmware.elf $(if $(filter 1,$(EDGESDK_MCU)),$(BUILD_DIR)/firmware.bin)

$(BUILD_DIR)/firmware.elf: $(EDGESDK_ALL_SRCS) $(EDGESDK_HEADERS) $(LINKER_SCRIPT)
	@mkdir -p $(BUILD_DIR)
	$(CC) -std=c99 -Wall -Wextra -Werror $(CFLAGS) $(EDGESDK_MCU_CFLAGS) $(EDGESDK_DEFS) $(EDGESDK_INCS) \
	  $(EDGESDK_ALL_SRCS) $(LDFLAGS) $(EDGESDK_MCU_LDFLAGS) -o $@

$(BUILD_DIR)/firmware.bin: $(BUILD_DIR)/firmware.elf
	$(OBJCOPY) -O binary $< $@

edgesdk_clean:
	rm -f $(BUILD_DIR)/firmware.elf $(BUILD_DIR)/firmware.bin $(BUILD_DIR)/firmware.map
