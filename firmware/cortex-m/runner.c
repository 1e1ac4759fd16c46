/* QEMU test driver for a generated model header: Cortex-M (this directory), RV32 (firmware/rv32/) and Xtensa
 * (firmware/xtensa/) share this file; each supplies only its startup (reset, faults, semihost_call) and linker script.
 *
 * Build (with the target's startup.c and linker script; see tinygen/targets/qemu.py):
 *   -DTG_NAME=model -DTG_HEADER='"model.h"' [-DTG_FIXED] [-DTG_PROBA] [-DTG_PREDICT_ONLY [-DTG_STUB]]
 * Run under QEMU with semihosting, in a directory holding rows.bin: N_FEATURES float32 per row (little
 * endian). For every row it prints one line over semihosting (SYS_WRITE0):
 *   R <score 0>...<score k-1><prediction> <stack bytes>
 * each score and the prediction as 8 hex digits of its 32-bit pattern (int32, or float32 bits), and the
 * stack bytes of the NAME_predict call in hex. Then "END <rows> <split mismatches>" (hex) and exit 0.
 * -DTG_PROBA (headers with NAME_predict_proba; check firmware): each line ends in " " and the N_CLASSES
 * values of NAME_predict_proba(x) as 4 hex digits each; NAME_predict_proba_q and NAME_proba_from_scores must
 * agree with it (else the row counts as a split mismatch).
 * -DTG_PROBA_SCORES: rows.bin holds N_OUTPUTS int32 raw scores per row instead, and each line is
 * "R <probabilities> 0": NAME_proba_from_scores on any scores (the tests' extreme values).
 *
 * Three builds of this file serve three purposes:
 * - default, the check firmware: NAME_predict and NAME_scores for every row; for fixed-point models also
 *   NAME_scores_q(NAME_quantize_input(x)) == NAME_scores(x) and NAME_predict_q == NAME_predict, counting
 *   rows where they differ ("split mismatches").
 * - TG_PREDICT_ONLY, the cost firmware: calls NAME_predict only, like an application would (the host size
 *   measurement does the same). Its costs are reported: instructions and stack when run, flash and RAM
 *   from its size; the scores it prints are zeros.
 * - TG_PREDICT_ONLY and TG_STUB: the model is not called at all; never run, only sized. The size
 *   difference of the cost firmware and this one is what the model adds.
 * (With the model called from several places, -Os inlines differently: a firmware that also calls
 * NAME_scores would cost a few more instructions per NAME_predict than an application calling it alone.)
 * -DTG_WINDOW (window programs, every build): each row (a window, time-major) is also pushed frame by frame into
 * a stream (NAME_quantize_frame, NAME_push). The cost firmware then times NAME_predict_latest on that stream
 * (pushed from NAME_stream_init: the ring starts at frame 0), the int16 streaming path (as the AVR harness does),
 * in place of NAME_predict; the stream lives in the cost firmware only, so its ring counts as the model's RAM.
 * The check firmware pushes a few frames more first (the ring then starts at an odd frame) and compares
 * NAME_predict_latest and NAME_scores_ring with NAME_predict and NAME_scores (a difference is a split
 * mismatch). The float path is timed by a cost firmware built without TG_WINDOW.
 *
 * -DTG_TRAIN (trainable headers, every build; TG_REGRESSION for a regressor): before the rows, every row of updates.bin
 * (N_FEATURES float32 and the label as float32: the class index, or the target) is one NAME_partial_fit
 * (NAME_partial_fit_reg) step between the markers (the cost firmware's counts: the empty region, one per update, then
 * one per row); then "W <NAME_weights() bytes> <steps> <saturations>" (hex; the counters as 8 digits) and the rows,
 * predicted with the trained weights.
 * -DTG_TRAIN_START (with TG_TRAIN): first NAME_load_weights of start.bin's NAME_WEIGHTS_BYTES bytes (a fleet round's
 * global weights), so the updates start from them instead of the exported weights.
 *
 * Measurements per row:
 * - instructions: NAME_predict(x) runs between calls of the marker functions bench_begin and bench_end;
 *   the QEMU plugin (firmware/qemu-plugin/insn_regions.c) counts the instructions in between: the call,
 *   its argument and result moves, and the model. The first region, before any row, is empty: its count
 *   is the markers' own overhead (2: the return of bench_begin and the call of bench_end), subtracted by
 *   the host.
 * - stack: the stack below the current SP is painted with a pattern before the call; after it, the lowest
 *   word that no longer holds the pattern is the high-water mark, counted from the SP at the call of the
 *   model (so the bytes include the call's own frame, not the driver's). If even the lowest word of the
 *   stack region changed, the stack overflowed: the firmware says so and exits non-zero.
 */
#include <stdint.h>
#include <string.h>

#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

#define N_FEATURES TG(_N_FEATURES)
#define N_OUTPUTS TG(_N_OUTPUTS)
typedef TG(_score_t) score_t;
typedef TG(_prediction_t) prediction_t;

/* Every score and the prediction are printed as 32-bit patterns. */
typedef char score_is_32_bits[sizeof(score_t) == 4 ? 1 : -1];
typedef char prediction_is_32_bits[sizeof(prediction_t) == 4 ? 1 : -1];

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_READ 0x06
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026 /* QEMU exits 0 */
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023   /* QEMU exits 1 */
#define OPEN_MODE_RB 1

#define STACK_PATTERN 0x5AC3E19Du

long semihost_call(long op, const void *arg); /* startup.c of the target */
void firmware_exit(int status) __attribute__((noreturn));
void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp) __attribute__((noreturn));
void bench_begin(void);
void bench_end(void);

extern uint32_t __stack_limit[]; /* the bottom of the linker script's stack region */

static float row[N_FEATURES];
static score_t scores[N_OUTPUTS];
#if defined(TG_PROBA) || defined(TG_PROBA_SCORES)
#define PROBA_CHARS (1 + 4 * TG(_N_CLASSES))
#else
#define PROBA_CHARS 0
#endif
static char line[2 + 8 * (N_OUTPUTS + 1) + 1 + 8 + PROBA_CHARS + 2];

/* The markers: empty, never inlined, cloned or merged (noipa), so each has its own address. */
__attribute__((noipa)) void bench_begin(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noipa)) void bench_end(void)
{
    __asm__ volatile("" ::: "memory");
}

#if defined(TG_WINDOW) && !defined(TG_STUB)
static TG(_stream_t) stream;

/* The row's frames pushed into a fresh stream after `lead` copies of its first frame: the ring then holds the
 * window, its latest, from frame `lead` on (the cost firmware: 0, as the AVR harness; the check firmware: an odd
 * start, so that the ring's copy-out wraps, both parts of odd length). */
static void fill_stream(const float *x, uint16_t lead)
{
    int16_t raw[TG(_N_CHANNELS)];
    uint16_t t;
    TG(_stream_init)(&stream);
    for (t = 0; t < lead + TG(_WINDOW); t++) {
        TG(_quantize_frame)(x + (t < lead ? 0 : t - lead) * TG(_N_CHANNELS), raw);
        (void)TG(_push)(&stream, raw);
    }
}
#endif

/* One inference: the measured call, from float features (a window program's cost firmware: from the stream
 * the row was pushed into). */
__attribute__((noipa)) static prediction_t run_predict(const float *x)
{
#if defined(TG_STUB)
    (void)x;
    return (prediction_t)0;
#elif defined(TG_WINDOW) && defined(TG_PREDICT_ONLY)
    (void)x;
    return TG(_predict_latest)(&stream);
#else
    return TG(_predict)(x);
#endif
}

static uintptr_t stack_pointer(void)
{
    uintptr_t sp;
#if defined(__arm__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#elif defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#elif defined(__XTENSA__)
    __asm__ volatile("mov %0, a1" : "=r"(sp));
#else
#error "unknown architecture"
#endif
    return sp;
}

static volatile uintptr_t call_sp;

/* The measured region: the markers around one call. In a function of its own so that the compiler has
 * nothing else to schedule between the markers; the barrier keeps bench_end from becoming a tail call. */
__attribute__((noipa)) static prediction_t measured_predict(const float *x)
{
    prediction_t prediction;
    call_sp = stack_pointer(); /* the SP that run_predict is called with: its stack use starts here */
    bench_begin();
    prediction = run_predict(x);
    bench_end();
    __asm__ volatile("" ::: "memory");
    return prediction;
}

/* The same region with nothing in it: its count is the markers' own cost, subtracted by the host. */
__attribute__((noipa)) static void empty_region(void)
{
    bench_begin();
    bench_end();
    __asm__ volatile("" ::: "memory");
}

static void print(const char *text)
{
    semihost_call(SYS_WRITE0, text);
}

static char *put_hex(char *out, uint32_t value, int digits)
{
    static const char hex[] = "0123456789abcdef";
    int shift;
    for (shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
        *out++ = hex[(value >> shift) & 0xFu];
    }
    return out;
}

void firmware_exit(int status)
{
    semihost_call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                                  : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
    }
}

/* "FAULT cause=<IPSR or mcause> pc=<faulting pc> sp=<sp at the fault>", then a failing exit. */
void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp)
{
    char text[48] = "FAULT cause=";
    char *end = put_hex(text + 12, cause, 8);
    memcpy(end, " pc=", 4);
    end = put_hex(end + 4, pc, 8);
    memcpy(end, " sp=", 4);
    end = put_hex(end + 4, sp, 8);
    end[0] = '\n';
    end[1] = '\0';
    print(text);
    firmware_exit(1);
}

static uint32_t bits_of_score(const score_t *value)
{
    uint32_t bits;
    memcpy(&bits, value, sizeof bits);
    return bits;
}

static uint32_t bits_of_prediction(const prediction_t *value)
{
    uint32_t bits;
    memcpy(&bits, value, sizeof bits);
    return bits;
}

#if defined(TG_PROBA) && !defined(TG_PREDICT_ONLY)
/* NAME_predict_proba of the row, appended to the line; 1 when its other two forms disagree. */
static int put_proba(char **out, const float *x)
{
    uint16_t proba[TG(_N_CLASSES)];
    uint16_t other[TG(_N_CLASSES)];
    TG(_input_t) x_q[N_FEATURES];
    int differs;
    int k;
    TG(_predict_proba)(x, proba);
    TG(_proba_from_scores)(scores, other);
    differs = memcmp(proba, other, sizeof proba) != 0;
    TG(_quantize_input)(x, x_q);
    TG(_predict_proba_q)(x_q, other);
    differs |= memcmp(proba, other, sizeof proba) != 0;
    *(*out)++ = ' ';
    for (k = 0; k < TG(_N_CLASSES); k++) {
        *out = put_hex(*out, proba[k], 4);
    }
    return differs;
}
#endif

#if defined(TG_PROBA_SCORES)
/* The scores mode: NAME_proba_from_scores on every row of int32 scores. */
static int proba_of_scores(long handle)
{
    static int32_t row_scores[N_OUTPUTS];
    long read_args[3];
    uint32_t rows = 0;
    for (;;) {
        uint16_t proba[TG(_N_CLASSES)];
        char *out = line;
        int k;
        read_args[0] = handle;
        read_args[1] = (long)(uintptr_t)row_scores;
        read_args[2] = (long)sizeof row_scores;
        if (semihost_call(SYS_READ, read_args) != 0) {
            break;
        }
        TG(_proba_from_scores)(row_scores, proba);
        *out++ = 'R';
        *out++ = ' ';
        for (k = 0; k < TG(_N_CLASSES); k++) {
            out = put_hex(out, proba[k], 4);
        }
        memcpy(out, " 0\n", 4);
        print(line);
        rows++;
    }
    semihost_call(SYS_CLOSE, &handle);
    {
        char end[4 + 8 + 3] = "END ";
        char *out = put_hex(end + 4, rows, 8);
        memcpy(out, " 0\n", 4);
        print(end);
    }
    return 0;
}
#endif

#if defined(TG_FIXED) && !defined(TG_PREDICT_ONLY)
/* 1 when the pre-quantized path (a window program's: also the stream's) disagrees with the float-input path on
 * this row. */
static int split_differs(const float *x, prediction_t prediction)
{
    TG(_input_t) x_q[N_FEATURES];
    score_t scores_q[N_OUTPUTS];
    int differs;
    TG(_quantize_input)(x, x_q);
    TG(_scores_q)(x_q, scores_q);
    differs = memcmp(scores, scores_q, sizeof scores) != 0 || TG(_predict_q)(x_q) != prediction;
#if defined(TG_WINDOW)
    fill_stream(x, TG(_WINDOW) > 5 ? 5u : 1u);
    TG(_scores_ring)(stream.ring, stream.next, scores_q);
    differs |= memcmp(scores, scores_q, sizeof scores) != 0 || TG(_predict_latest)(&stream) != prediction;
#endif
    return differs;
}
#endif

#if defined(TG_TRAIN)
/* One partial_fit step, what the cost firmware's plugin counts between the markers. */
__attribute__((noipa)) static void run_partial_fit(const float *x, float label)
{
#if defined(TG_STUB)
    (void)x;
    (void)label;
#elif defined(TG_REGRESSION)
    TG(_partial_fit_reg)(x, label);
#else
    TG(_partial_fit)(x, (int32_t)label);
#endif
}

__attribute__((noipa)) static void measured_partial_fit(const float *x, float label)
{
    bench_begin();
    run_partial_fit(x, label);
    bench_end();
    __asm__ volatile("" ::: "memory");
}

#if defined(TG_TRAIN_START)
/* NAME_load_weights of start.bin (exactly NAME_WEIGHTS_BYTES bytes); 1 when it cannot be read whole. */
static int load_start(void)
{
    static const char start_name[] = "start.bin";
    static uint8_t start[TG(_WEIGHTS_BYTES)];
    const long open_args[3] = {(long)(uintptr_t)start_name, OPEN_MODE_RB, (long)(sizeof start_name - 1)};
    long read_args[3];
    long handle = semihost_call(SYS_OPEN, open_args);
    long unread;
    if (handle < 0) {
        print("ERROR cannot open start.bin\n");
        return 1;
    }
    read_args[0] = handle;
    read_args[1] = (long)(uintptr_t)start;
    read_args[2] = (long)sizeof start;
    unread = semihost_call(SYS_READ, read_args); /* the bytes NOT read */
    semihost_call(SYS_CLOSE, &handle);
    if (unread != 0) {
        print("ERROR start.bin is too short\n");
        return 1;
    }
#if !defined(TG_STUB)
    TG(_load_weights)(start);
#endif
    return 0;
}
#endif

/* The updates of updates.bin, then the "W" line; 1 when the file cannot be opened. */
static int train(void)
{
    static const char updates_name[] = "updates.bin";
    static float update[N_FEATURES + 1];
    const long open_args[3] = {(long)(uintptr_t)updates_name, OPEN_MODE_RB, (long)(sizeof updates_name - 1)};
    long read_args[3];
    long handle;
#if defined(TG_TRAIN_START)
    if (load_start() != 0) {
        return 1;
    }
#endif
    handle = semihost_call(SYS_OPEN, open_args);
    if (handle < 0) {
        print("ERROR cannot open updates.bin\n");
        return 1;
    }
    for (;;) {
        read_args[0] = handle;
        read_args[1] = (long)(uintptr_t)update;
        read_args[2] = (long)sizeof update;
        if (semihost_call(SYS_READ, read_args) != 0) {
            break;
        }
        measured_partial_fit(update, update[N_FEATURES]);
    }
    semihost_call(SYS_CLOSE, &handle);
#if !defined(TG_STUB)
    {
        char text[2 + 2 * 16 + 1];
        const uint8_t *bytes = TG(_weights)();
        uint32_t i;
        print("W ");
        for (i = 0; i < TG(_WEIGHTS_BYTES); i += 16u) {
            char *out = text;
            uint32_t k;
            for (k = i; k < i + 16u && k < TG(_WEIGHTS_BYTES); k++) {
                out = put_hex(out, bytes[k], 2);
            }
            *out = '\0';
            print(text);
        }
        text[0] = ' ';
        put_hex(text + 1, TG(_steps)(), 8);
        text[9] = ' ';
        put_hex(text + 10, TG(_saturations)(), 8);
        text[18] = '\n';
        text[19] = '\0';
        print(text);
    }
#endif
    return 0;
}
#endif

int main(void)
{
    static const char rows_name[] = "rows.bin";
    const long open_args[3] = {(long)(uintptr_t)rows_name, OPEN_MODE_RB, (long)(sizeof rows_name - 1)};
    long read_args[3];
    long handle;
    uint32_t rows = 0;
    uint32_t split_mismatches = 0;

    handle = semihost_call(SYS_OPEN, open_args);
    if (handle < 0) {
        print("ERROR cannot open rows.bin\n");
        return 1;
    }
#if defined(TG_PROBA_SCORES)
    return proba_of_scores(handle);
#endif
    empty_region();
#if defined(TG_TRAIN)
    if (train() != 0) {
        return 1;
    }
#endif
    for (;;) {
        volatile uint32_t *word;
        uintptr_t sp;
        uint32_t stack_bytes;
        prediction_t prediction;
        char *out;
        int k;

        read_args[0] = handle;
        read_args[1] = (long)(uintptr_t)row;
        read_args[2] = (long)sizeof row;
        if (semihost_call(SYS_READ, read_args) != 0) { /* returns the bytes NOT read: 0 is a whole row */
            break;
        }

#if defined(TG_WINDOW) && defined(TG_PREDICT_ONLY) && !defined(TG_STUB)
        fill_stream(row, 0u);
#endif
        /* Paint [__stack_limit, sp): nothing below sp is live, and no interrupt is enabled. */
        sp = stack_pointer();
        for (word = __stack_limit; (uintptr_t)word < sp; word++) {
            *word = STACK_PATTERN;
        }
        prediction = measured_predict(row);
        for (word = __stack_limit; (uintptr_t)word < sp && *word == STACK_PATTERN; word++) {
        }
        if (word == __stack_limit) {
            print("ERROR stack overflow: the inference used the whole stack region\n");
            return 1;
        }
        /* Below call_sp only run_predict wrote; nothing there (no stack use at all) counts as 0. */
        stack_bytes = (uintptr_t)word < call_sp ? (uint32_t)(call_sp - (uintptr_t)word) : 0u;

#if !defined(TG_PREDICT_ONLY)
        TG(_scores)(row, scores);
#if defined(TG_FIXED)
        split_mismatches += (uint32_t)split_differs(row, prediction);
#endif
#endif
        out = line;
        *out++ = 'R';
        *out++ = ' ';
        for (k = 0; k < N_OUTPUTS; k++) {
            out = put_hex(out, bits_of_score(&scores[k]), 8);
        }
        out = put_hex(out, bits_of_prediction(&prediction), 8);
        *out++ = ' ';
        out = put_hex(out, stack_bytes, 8);
#if defined(TG_PROBA) && !defined(TG_PREDICT_ONLY)
        split_mismatches += (uint32_t)put_proba(&out, row);
#endif
        *out++ = '\n';
        *out = '\0';
        print(line);
        rows++;
    }
    semihost_call(SYS_CLOSE, &handle);
    {
        char end[4 + 8 + 1 + 8 + 2] = "END ";
        char *out = put_hex(end + 4, rows, 8);
        *out++ = ' ';
        out = put_hex(out, split_mismatches, 8);
        *out++ = '\n';
        *out = '\0';
        print(end);
    }
    return 0;
}
