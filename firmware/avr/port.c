/* The verify firmware that `tinygen flash` uploads to an AVR board (Uno, Nano, Mega 2560) and that
 * `tinygen verify --port` talks to over the board's serial port: every row it is sent goes through the model,
 * and the raw outputs come back with the cycles of the inference, timed by Timer1.
 *
 * Built (tinygen/flash.py) from port.c + model.c + predict.c around the generated header:
 *   avr-gcc -c FLAGS -Dtg_predict=tg_timed_predict ... predict.c -o timed.o      (every tg_ name: tg_timed_)
 *   avr-gcc FLAGS -DTG_DIGEST='"<64 hex digits>"' -DTG_TIMED_UNIT port.c model.c timed.o
 *   FLAGS: -std=c99 -Os -mmcu=atmega328p -DF_CPU=16000000UL ... -DTG_NAME=activity -DTG_HEADER='"activity.h"'
 *          [-DTG_PROBA] [-DTG_WINDOW]
 * The timed NAME_predict is predict.c's, compiled alone as in the simavr target's sized firmware, so the board
 * times the machine code that target counts (in model.c, which also calls NAME_scores, the compiler inlines
 * differently: up to a few % more cycles). The model's tables are then in flash twice; a model whose firmware does
 * not fit so is built without TG_TIMED_UNIT and times model.c's NAME_predict (the info line says which).
 * -DTG_STUB (port.c alone): the same firmware without the model, what the model's flash and RAM are measured
 * against.
 *
 * Protocol on UART0 at 115200 baud, 8N1 (U2X, UBRR 16: 117,647 baud, the rate every Uno sketch at 115200 uses).
 * The host sends a request only after the previous answer, so no buffer on either side can overflow.
 *   at start:     "tinygen-port ready\n"
 *   'i':          "tinygen-port 1 DIGEST FFFF OOOO SS PP CCCC WWWW T\n": protocol version, the model's digest
 *                 (TG_DIGEST: SHA-256 of its NAME.json, digest field zeroed), then in hex the features, outputs,
 *                 bytes per score, bytes of the prediction, probabilities per row (0: none), frames per row
 *                 (window programs; 0: rows are feature vectors), and 1 when the timed NAME_predict is compiled
 *                 alone (TG_TIMED_UNIT), 0 when it shares model.c
 *   'r' + a row:  the row's N_FEATURES float32 (window programs: WINDOW frames of N_CHANNELS float32), little-
 *                 endian; the answer is "= " + the raw bytes of the N_OUTPUTS scores, of the prediction and of the
 *                 probabilities as lowercase hex in memory order, then " CCCCCCCC SSSS\n": the cycles of the one
 *                 NAME_predict(x) call (window programs: NAME_predict_latest) as its caller sees it, the cost of
 *                 the timing itself subtracted, and the bytes of stack it used (hex)
 *   '\r', '\n':   ignored; any other byte: "?\n"
 * Cycles: Timer1 counts CPU cycles (no prescaler); its overflow interrupt (every 65,536 cycles, a few cycles
 * each, counted in the total) extends it to 32 bits. Stack: the free SRAM is painted before the call and the
 * deepest byte it changed is found after.
 */
#include <stdint.h>
#include <string.h>

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>

#define TG_TYPES_ONLY
#define TG_UART_UBRR 16 /* 16 MHz / 8 / (16 + 1) = 117,647 baud: 115,200 within 2.1 % */
#include "uart.h"

#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

#define PROTOCOL_VERSION "1"
#define STACK_PAINT 0xA5

#ifdef TG_PROBA
#define N_PROBA TG(_N_CLASSES)
#else
#define N_PROBA 0
#endif
#ifdef TG_WINDOW
#define FRAMES TG(_WINDOW)
#define FRAME_FLOATS TG(_N_CHANNELS)
#else
#define FRAMES 0
#define FRAME_FLOATS TG(_N_FEATURES)
#endif

/* model.c (without TG_STUB) */
TG(_prediction_t) tg_predict(const float *x);
void tg_scores(const float *x, TG(_score_t) *out);
#ifdef TG_PROBA
void tg_predict_proba(const float *x, uint16_t *proba);
void tg_proba_from_scores(const TG(_score_t) *scores, uint16_t *proba);
static uint16_t proba[TG(_N_CLASSES)];
#endif
#ifdef TG_WINDOW
void tg_window_begin(void);
void tg_window_frame(const float *frame);
TG(_prediction_t) tg_predict_latest(void);
void tg_scores_latest(TG(_score_t) *out);
#endif

#ifdef TG_STUB
TG(_prediction_t) tg_predict(const float *x) { (void)x; return 0; }
void tg_scores(const float *x, TG(_score_t) *out) { (void)x; memset(out, 0, sizeof(TG(_score_t)) * TG(_N_OUTPUTS)); }
#ifdef TG_PROBA
void tg_predict_proba(const float *x, uint16_t *p) { (void)x; memset(p, 0, sizeof proba); }
void tg_proba_from_scores(const TG(_score_t) *s, uint16_t *p) { (void)s; memset(p, 0, sizeof proba); }
#endif
#ifdef TG_WINDOW
void tg_window_begin(void) {}
void tg_window_frame(const float *frame) { (void)frame; }
TG(_prediction_t) tg_predict_latest(void) { return 0; }
void tg_scores_latest(TG(_score_t) *out) { memset(out, 0, sizeof(TG(_score_t)) * TG(_N_OUTPUTS)); }
#endif
#endif

#ifdef TG_TIMED_UNIT
TG(_prediction_t) tg_timed_predict(const float *x);
#ifdef TG_WINDOW
void tg_timed_window_begin(void);
void tg_timed_window_frame(const float *frame);
TG(_prediction_t) tg_timed_predict_latest(void);
#endif
#define TIMED_ALONE 1
#else /* model.c's own */
#define tg_timed_predict tg_predict
#define tg_timed_window_begin() ((void)0)
#define tg_timed_window_frame(frame) ((void)(frame))
#define tg_timed_predict_latest tg_predict_latest
#define TIMED_ALONE 0
#endif

extern uint8_t __heap_start; /* avr-libc: the first byte after .data and .bss */

static float x[FRAME_FLOATS];
static TG(_score_t) scores[TG(_N_OUTPUTS)];
static TG(_prediction_t) prediction;

/* Timer1 overflows, in GPIOR1 (low) and GPIOR2 (high): the interrupt then touches one register and SREG, so
 * it costs the same few cycles and 4 bytes of stack wherever it lands. */
ISR(TIMER1_OVF_vect, ISR_NAKED)
{
    __asm__ __volatile__(
        "push r24\n\t"
        "in r24, __SREG__\n\t"
        "push r24\n\t"
        "in r24, %[low]\n\t"
        "subi r24, 0xFF\n\t"
        "out %[low], r24\n\t"
        "brne 1f\n\t"
        "in r24, %[high]\n\t"
        "subi r24, 0xFF\n\t"
        "out %[high], r24\n"
        "1:\n\t"
        "pop r24\n\t"
        "out __SREG__, r24\n\t"
        "pop r24\n\t"
        "reti\n\t"
        :: [low] "I" (_SFR_IO_ADDR(GPIOR1)), [high] "I" (_SFR_IO_ADDR(GPIOR2)));
}

static void put_text(const char *s)
{
    while (*s) {
        put_byte((uint8_t)*s++);
    }
}

/* a number as big-endian hex of `bytes` bytes */
static void put_number(uint32_t v, uint8_t bytes)
{
    uint8_t be[4];
    uint8_t i;
    for (i = 0; i < bytes; i++) {
        be[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    put_hex(be, bytes);
}

static void read_floats(float *dst, uint16_t count)
{
    uint8_t *p = (uint8_t *)dst;
    uint16_t i;
    for (i = 0; i < (uint16_t)(count * sizeof(float)); i++) {
        p[i] = get_byte();
    }
}

/* Timer1 from zero, counting CPU cycles; the overflow count cleared */
#define TIMER_START()              \
    do {                           \
        GPIOR1 = 0;                \
        GPIOR2 = 0;                \
        TCNT1 = 0;                 \
        TIFR1 = (uint8_t)_BV(TOV1); \
        TCCR1B = (uint8_t)_BV(CS10); \
    } while (0)

/* Cycles since TIMER_START: an overflow whose interrupt is still pending counts too (TCNT1 then read small). */
static uint32_t timer_read(void)
{
    uint16_t count;
    uint16_t overflows;
    cli();
    count = TCNT1;
    overflows = (uint16_t)(GPIOR1 | ((uint16_t)GPIOR2 << 8));
    if ((TIFR1 & _BV(TOV1)) && count < 0x8000) {
        overflows++;
    }
    TCCR1B = 0;
    sei();
    return ((uint32_t)overflows << 16) | count;
}

static uint32_t timing_cost; /* what an empty timed region measures */

static void paint_free_stack(void)
{
    uint8_t *p = &__heap_start;
    uint8_t *top = (uint8_t *)SP - 8; /* below this function's own return address and pushes */
    while (p < top) {
        *p++ = STACK_PAINT;
    }
}

static uint16_t deepest_stack(uint16_t sp_start)
{
    const uint8_t *p = &__heap_start;
    while (*p == STACK_PAINT && (uint16_t)p < sp_start) {
        p++;
    }
    return (uint16_t)(sp_start - (uint16_t)p + 1);
}

static void answer_info(void)
{
    put_text("tinygen-port " PROTOCOL_VERSION " " TG_DIGEST " ");
    put_number(TG(_N_FEATURES), 2);
    put_byte(' ');
    put_number(TG(_N_OUTPUTS), 2);
    put_byte(' ');
    put_number(sizeof(TG(_score_t)), 2);
    put_byte(' ');
    put_number(sizeof(TG(_prediction_t)), 2);
    put_byte(' ');
    put_number(N_PROBA, 2);
    put_byte(' ');
    put_number(FRAMES, 2);
    put_byte(' ');
    put_byte((uint8_t)('0' + TIMED_ALONE));
    put_byte('\n');
}

/* One row in, its outputs and costs out. The timed region holds the one predict call, as the simavr target's. */
static void answer_row(void)
{
    uint32_t cycles;
    uint16_t sp_start;
#ifdef TG_WINDOW
    uint16_t t;
    tg_window_begin();
    tg_timed_window_begin();
    for (t = 0; t < FRAMES; t++) {
        read_floats(x, FRAME_FLOATS);
        tg_window_frame(x);
        tg_timed_window_frame(x);
    }
    tg_scores_latest(scores);
#ifdef TG_PROBA
    tg_proba_from_scores(scores, proba); /* the window is not kept as floats */
#endif
#else
    read_floats(x, FRAME_FLOATS);
    tg_scores(x, scores);
#ifdef TG_PROBA
    tg_predict_proba(x, proba);
#endif
#endif
    paint_free_stack();
    sp_start = SP;
    TIMER_START();
#ifdef TG_WINDOW
    prediction = tg_timed_predict_latest();
#else
    prediction = tg_timed_predict(x);
#endif
    cycles = timer_read();
    put_text("= ");
    put_hex(scores, sizeof scores);
    put_hex(&prediction, sizeof prediction);
#ifdef TG_PROBA
    put_hex(proba, sizeof proba);
#endif
    put_byte(' ');
    put_number(cycles - timing_cost, 4);
    put_byte(' ');
    put_number(deepest_stack(sp_start), 2);
    put_byte('\n');
}

int main(void)
{
    MCUSR = 0; /* the bootloader may leave the watchdog on: stop it before it resets the board */
    wdt_disable();
    uart_init();
    TCCR1A = 0;
    TIMSK1 = (uint8_t)_BV(TOIE1);
    sei();
    TIMER_START();
    timing_cost = timer_read();
    put_text("tinygen-port ready\n");
    for (;;) {
        uint8_t request = get_byte();
        if (request == 'i') {
            answer_info();
        } else if (request == 'r') {
            answer_row();
        } else if (request != '\r' && request != '\n') {
            put_text("?\n");
        }
    }
}
