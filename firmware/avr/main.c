/* AVR test harness (ATmega328P, Arduino Uno): runs rows received on UART0 through a generated model header.
 *
 * Three firmwares are built from it (flags: avr-gcc -std=c99 -Os -mmcu=atmega328p -DF_CPU=16000000UL
 * -ffunction-sections -fdata-sections -Wl,--gc-sections -DTG_NAME=activity -DTG_HEADER='"activity.h"'):
 *   sized:    main.c predict.c                        NAME_predict only (scores are zeros): sized and timed
 *   baseline: main.c predict.c -DTG_STUB              no model: what the sized firmware is compared with
 *   run:      main.c model.c -DTG_RUN [-DTG_FIXED]    raw scores, and the fixed-point split check
 * -DTG_PROBA (headers with NAME_predict_proba, all three builds): rows also carry N_CLASSES uint16 probabilities
 * (zeros in the sized firmware).
 * Run under firmware/avr/driver.c (libsimavr), which feeds the input bytes to UART0 and times the regions.
 *
 * Protocol on UART0 (2 Mbaud, 8N1; every number little-endian, as the AVR stores it):
 *   in:  row count (uint16), then per row N_FEATURES float32
 *   out: "tinygen-avr FFFF OOOO SS PP[ CCCC]\n"  features, outputs, bytes per score, bytes of the prediction
 *        (hex), and with TG_PROBA the number of probabilities
 *        per row: the raw bytes of the N_OUTPUTS scores and of the prediction (and of the N_CLASSES
 *        NAME_predict_proba values) as lowercase hex, then "\n"; a row ends in "!\n" instead when, for
 *        fixed-point models, NAME_scores_q(NAME_quantize_input(x)) != NAME_scores(x) or NAME_predict_q !=
 *        NAME_predict, or NAME_predict_proba_q / NAME_proba_from_scores differ from NAME_predict_proba
 *        "end RRRR\n" with the number of rows run (hex)
 * Regions (GPIOR0 markers, read by the driver): region 2 is empty (the cost of the markers themselves);
 * region 1 is one NAME_predict(x) call per row; region 3 (run firmware of fixed-point models) one
 * NAME_predict_q(x_q) call on the features quantized beforehand; region 4 (run firmware, TG_PROBA) one
 * NAME_proba_from_scores(scores, proba) call: predict_proba's cost on top of the scores. Interrupts are off throughout, and the
 * model calls live in another translation unit, so the compiler cannot move model work across the markers.
 * The run ends with cli + sleep, which stops simavr.
 * -DTG_WINDOW (window programs, all three builds): each row is read frame by frame (N_CHANNELS floats) into a
 * stream (NAME_quantize_frame, NAME_push; no buffer of N_FEATURES floats, which the Uno's SRAM could not hold
 * beside the ring), region 1 times NAME_predict_latest, the scores are NAME_scores_ring's, and the split check
 * compares NAME_predict_q / NAME_scores_q on the stream's ring (the window time-major) and NAME_predict_proba_q
 * with NAME_proba_from_scores.
 * -DTG_TRAIN (trainable headers, all three builds; TG_REGRESSION for a regressor): before the rows, an update count
 * (uint16) and per update N_FEATURES float32 and the label (float32: the class index, or the target), each applied
 * with NAME_partial_fit (NAME_partial_fit_reg) between region 5's markers; then the firmware sends
 * "train <NAME_weights() bytes><steps><saturations>\n" (hex, uint32 little-endian counters) after its first line, and
 * the rows are predicted with the trained weights.
 * -DTG_TRAIN_START (with TG_TRAIN): before the update count, NAME_WEIGHTS_BYTES bytes that NAME_load_weights takes (a
 * fleet round's global weights), so the updates start from them instead of the exported weights.
 */
#include <stdint.h>
#include <string.h>

#include "uart.h"

/* main.c needs the header's sizes and types only; the model's code is in predict.c or model.c. A header
 * whose functions are not static (the peer adapters of `tinygen bench --peers`) leaves them out here. */
#define TG_TYPES_ONLY
#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

/* predict.c or model.c */
TG(_prediction_t) tg_predict(const float *x);
void tg_scores(const float *x, TG(_score_t) *out);

#define REGION_PREDICT 1
#define REGION_EMPTY 2
#define REGION_PREDICT_Q 3
#define REGION_PROBA 4
#define REGION_PARTIAL_FIT 5

#ifdef TG_TRAIN
void tg_partial_fit(const float *x, float label, int32_t class_index);
void tg_load_weights(const uint8_t *bytes);
const uint8_t *tg_weights(void);
uint32_t tg_steps(void);
uint32_t tg_saturations(void);
#endif

#if defined(TG_RUN) && defined(TG_FIXED)
#define TG_TIME_PREDICT_Q
void tg_quantize(const float *x, TG(_input_t) *x_q);
void tg_scores_q(const TG(_input_t) *x_q, TG(_score_t) *out);
TG(_prediction_t) tg_predict_q(const TG(_input_t) *x_q);
#ifdef TG_WINDOW
const TG(_input_t) *tg_window_samples(void);
#else
static TG(_input_t) x_q[TG(_N_FEATURES)];
#endif
static TG(_score_t) scores_q[TG(_N_OUTPUTS)];
static TG(_prediction_t) prediction_q;
#endif

#ifdef TG_PROBA
static uint16_t proba[TG(_N_CLASSES)];
#if defined(TG_RUN)
void tg_predict_proba(const float *x, uint16_t *proba);
void tg_predict_proba_q(const TG(_input_t) *x_q, uint16_t *proba);
void tg_proba_from_scores(const TG(_score_t) *scores, uint16_t *proba);
static uint16_t proba_other[TG(_N_CLASSES)];
#endif
#endif

#ifdef TG_WINDOW
void tg_window_begin(void);
void tg_window_frame(const float *frame);
TG(_prediction_t) tg_predict_latest(void);
void tg_scores_latest(TG(_score_t) *out);
static float x[TG(_N_CHANNELS)]; /* one frame */
#else
static float x[TG(_N_FEATURES)];
#endif
static TG(_score_t) scores[TG(_N_OUTPUTS)];
static TG(_prediction_t) prediction;

static void put_text(const char *s)
{
    while (*s) {
        put_byte((uint8_t)*s++);
    }
}

static void put_hex16(uint16_t v)
{
    uint8_t be[2];
    be[0] = (uint8_t)(v >> 8);
    be[1] = (uint8_t)v;
    put_hex(be, 2);
}

#ifdef TG_TRAIN_START
/* The start weights from UART0 into NAME_load_weights; not inlined, so the buffer is off the stack before the
 * updates (whose stack is measured). */
static __attribute__((noinline)) void load_start(void)
{
    uint8_t start[TG(_WEIGHTS_BYTES)];
    uint16_t i;
    for (i = 0; i < sizeof start; i++) {
        start[i] = get_byte();
    }
    tg_load_weights(start);
}
#endif

int main(void)
{
    uint16_t rows;
    uint16_t row;
    uint8_t *dst;
    uint16_t i;

    cli();
    uart_init();

    GPIOR0 = REGION_EMPTY;
    GPIOR0 = 0;

    put_text("tinygen-avr ");
    put_hex16(TG(_N_FEATURES));
    put_byte(' ');
    put_hex16(TG(_N_OUTPUTS));
    put_byte(' ');
    put_hex16(sizeof(TG(_score_t)));
    put_byte(' ');
    put_hex16(sizeof(TG(_prediction_t)));
#ifdef TG_PROBA
    put_byte(' ');
    put_hex16(TG(_N_CLASSES));
#endif
    put_byte('\n');

#ifdef TG_TRAIN
#ifdef TG_TRAIN_START
    load_start();
#endif
    rows = get_u16();
    for (row = 0; row < rows; row++) {
        float label;
        int32_t class_index;
        dst = (uint8_t *)x;
        for (i = 0; i < sizeof x; i++) {
            dst[i] = get_byte();
        }
        dst = (uint8_t *)&label;
        for (i = 0; i < sizeof label; i++) {
            dst[i] = get_byte();
        }
#ifdef TG_REGRESSION
        class_index = 0;
#else
        class_index = (int32_t)label; /* before the region: the step is timed as firmware calls it */
#endif
        GPIOR0 = REGION_PARTIAL_FIT;
        tg_partial_fit(x, label, class_index);
        GPIOR0 = 0;
    }
    put_text("train ");
    put_hex(tg_weights(), TG(_WEIGHTS_BYTES));
    {
        uint32_t counters[2];
        counters[0] = tg_steps();
        counters[1] = tg_saturations();
        put_hex(counters, sizeof counters);
    }
    put_byte('\n');
#endif

    rows = get_u16();
    for (row = 0; row < rows; row++) {
        uint8_t split_mismatch = 0;
#ifdef TG_WINDOW
        uint16_t t;
        tg_window_begin();
        for (t = 0; t < TG(_WINDOW); t++) {
            dst = (uint8_t *)x;
            for (i = 0; i < sizeof x; i++) {
                dst[i] = get_byte();
            }
            tg_window_frame(x);
        }
        tg_scores_latest(scores);
        GPIOR0 = REGION_PREDICT;
        prediction = tg_predict_latest();
        GPIOR0 = 0;
#else
        dst = (uint8_t *)x;
        for (i = 0; i < sizeof x; i++) {
            dst[i] = get_byte();
        }
        tg_scores(x, scores);
        GPIOR0 = REGION_PREDICT;
        prediction = tg_predict(x);
        GPIOR0 = 0;
#endif
#ifdef TG_TIME_PREDICT_Q
#ifdef TG_WINDOW
        const TG(_input_t) *x_q = tg_window_samples();
#else
        tg_quantize(x, x_q);
#endif
        GPIOR0 = REGION_PREDICT_Q;
        prediction_q = tg_predict_q(x_q);
        GPIOR0 = 0;
        tg_scores_q(x_q, scores_q);
        split_mismatch = (uint8_t)(prediction_q != prediction || memcmp(scores_q, scores, sizeof scores) != 0);
#endif
#if defined(TG_RUN) && defined(TG_PROBA)
        GPIOR0 = REGION_PROBA;
        tg_proba_from_scores(scores, proba_other);
        GPIOR0 = 0;
#ifdef TG_WINDOW
        memcpy(proba, proba_other, sizeof proba); /* the float window is not kept: proba_q is the check */
#else
        tg_predict_proba(x, proba);
        if (memcmp(proba, proba_other, sizeof proba) != 0) {
            split_mismatch = 1;
        }
#endif
        tg_predict_proba_q(x_q, proba_other);
        if (memcmp(proba, proba_other, sizeof proba) != 0) {
            split_mismatch = 1;
        }
#endif
        put_hex(scores, sizeof scores);
        put_hex(&prediction, sizeof prediction);
#ifdef TG_PROBA
        put_hex(proba, sizeof proba);
#endif
        if (split_mismatch) {
            put_byte('!');
        }
        put_byte('\n');
    }
    put_text("end ");
    put_hex16(row);
    put_byte('\n');
    uart_stop();
    return 0;
}
